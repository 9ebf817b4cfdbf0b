"""The outbound-address guard (DESIGN §4): every request to an address a user or a workflow names (the
executor's HTTP tool, web loader, search and model base URLs; the vectorstore's URL imports).

Resolve once, check every address the name resolves to, connect to the checked address (the Host header and
TLS SNI keep the name), re-check on every redirect; only http and https. Private, loopback, link-local and
reserved addresses are refused unless the operator's `Policy` allows them: by network (e.g. 127.0.0.1/32 for
a model server on the same host) or all of them. Cloud metadata addresses are refused always. Checking a
name and then letting the client resolve it again is how the peers' SSRF bugs happened.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpcore
import httpx

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
MAX_REDIRECTS = 5
# Cloud metadata endpoints: refused even where private networks are allowed.
METADATA_ADDRESSES = frozenset({ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")})


class OutboundRefused(Exception):
    """A URL that may not be fetched: its scheme, or an address that is not on the public internet."""


class OutboundError(Exception):
    """The request could not be made: unresolvable host, too many redirects."""


@dataclass(frozen=True)
class Policy:
    """What the operator allows besides public addresses: all private networks, or these networks."""

    allow_private: bool = False
    allowed: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    @classmethod
    def of(cls, allow_private: bool, networks: list[str]) -> Policy:
        return cls(allow_private, tuple(ipaddress.ip_network(n, strict=False) for n in networks))


def refusal(address: Address, rules: Policy) -> str:
    """Why an address may not be fetched ('' if it may)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if address.is_multicast or address.is_unspecified:
        return "a multicast or unspecified address"
    if rules.allow_private or any(address.version == n.version and address in n for n in rules.allowed):
        return ""
    for kind in ("loopback", "link_local", "private", "reserved"):
        if getattr(address, f"is_{kind}"):
            return f"a {kind.replace('_', '-')} address"
    if not address.is_global:
        return "not a public address"
    return ""


def check_url(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an http(s) URL; raises OutboundRefused."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise OutboundRefused(f"{url!r} is not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise OutboundRefused(f"only http and https URLs can be used, not {parts.scheme or 'a URL without scheme'}:")
    if not parts.hostname:
        raise OutboundRefused(f"{url!r} has no host")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


async def _resolve(host: str, port: int) -> list[Address]:
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise OutboundError(f"cannot resolve {host}: {exc.strerror or exc}") from None
    addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos))
    if not addresses:
        raise OutboundError(f"cannot resolve {host}")
    return addresses


async def resolve_allowed(host: str, port: int, rules: Policy) -> Address:
    """The address to connect to: the host resolved once; every address it resolves to must be allowed."""
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        addresses = await _resolve(host, port)
    for address in addresses:
        reason = refusal(address, rules)
        if reason:
            raise OutboundRefused(f"refusing to connect to {host}: {address} is {reason}")
    return addresses[0]


async def check(url: str, rules: Policy) -> None:
    """A URL that will be fetched later (or by a client that connects by name): http(s), allowed addresses."""
    _, host, port = check_url(url)
    await resolve_allowed(host, port, rules)


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network layer with the guard at the socket: each new connection resolves its host once,
    checks every address, and connects to the checked one (TLS still verifies and sends the name)."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend, rules: Callable[[], Policy]):
        self._inner, self._rules = inner, rules

    async def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        try:
            address = await resolve_allowed(host, port, self._rules())
        except (OutboundRefused, OutboundError) as exc:
            raise httpcore.ConnectError(str(exc)) from None
        return await self._inner.connect_tcp(str(address), port, timeout, local_address, socket_options)

    async def connect_unix_socket(self, path, timeout=None, socket_options=None):
        raise httpcore.ConnectError("unix sockets are not reachable through the outbound guard")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def guarded_transport(rules: Callable[[], Policy]) -> httpx.AsyncHTTPTransport:
    """An httpx transport for clients that connect by name themselves (model providers' SDKs): the check
    happens at every connect, so a name cannot resolve to an allowed address when checked and to another (a
    metadata or private address) when the SDK connects (DNS rebinding). `rules()` gives the current policy."""
    transport = httpx.AsyncHTTPTransport()
    # httpx takes no network backend of its own; its pool (httpcore) does, and builds connections with it.
    transport._pool._network_backend = _GuardedBackend(transport._pool._network_backend, rules)
    return transport


@dataclass
class Fetched:
    url: str  # after redirects
    status: int
    headers: httpx.Headers
    body: bytes
    truncated: bool


async def fetch(url: str, rules: Policy, *, user_agent: str, method: str = "GET", headers: dict | None = None,
                body: bytes | None = None, timeout: float = 10.0, max_bytes: int = 2 * 1024 * 1024) -> Fetched:
    """One request (and its redirects), connecting only to checked addresses. The body is read up to
    max_bytes; an HTTP error status is the caller's to judge. Raises OutboundRefused, OutboundError or
    httpx.HTTPError."""
    async with httpx.AsyncClient(follow_redirects=False, trust_env=False, timeout=timeout) as client:
        for _ in range(MAX_REDIRECTS + 1):
            scheme, host, port = check_url(url)
            address = await resolve_allowed(host, port, rules)
            parts = urlsplit(url)
            ip_host = f"[{address}]" if address.version == 6 else str(address)
            target = urlunsplit((scheme, f"{ip_host}:{port}", parts.path or "/", parts.query, ""))
            name = f"[{host}]" if ":" in host else host
            default_port = port == (443 if scheme == "https" else 80)
            sent = {"User-Agent": user_agent, **(headers or {}), "Host": name if default_port else f"{name}:{port}"}
            request = client.build_request(method, target, headers=sent, content=body,
                                           extensions={"sni_hostname": host} if scheme == "https" else {})
            response = await client.send(request, stream=True)
            try:
                if response.is_redirect:
                    url = urljoin(url, response.headers.get("location", ""))
                    if response.status_code == 303 or (response.status_code in (301, 302) and method == "POST"):
                        method, body = "GET", None
                    continue
                data, truncated = bytearray(), False
                async for chunk in response.aiter_bytes():
                    data += chunk
                    if len(data) > max_bytes:
                        del data[max_bytes:]
                        truncated = True
                        break
                return Fetched(url, response.status_code, response.headers, bytes(data), truncated)
            finally:
                await response.aclose()
    raise OutboundError(f"too many redirects (more than {MAX_REDIRECTS}) from {url}")
