"""Outbound HTTP to addresses users choose (web loader, URL imports), behind the guard of DESIGN §4.

Only http(s); the host is resolved once and every address it resolves to must be public (private, loopback
and link-local only where the operator allows them; cloud metadata addresses never); the connection goes to
the checked address (the name travels as Host and SNI), and every redirect is checked again. Checking one
name and then letting the client resolve it again is how the peers' SSRF bugs happened.
"""

import asyncio
import ipaddress
import socket
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

MAX_REDIRECTS = 5
# Cloud metadata endpoints: refused even where private networks are allowed.
METADATA_ADDRESSES = frozenset({ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")})

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class OutboundRefused(Exception):
    """A URL that may not be fetched: its scheme, or an address that is not on the public internet."""


class OutboundError(Exception):
    """The fetch itself failed: unresolvable host, HTTP error status, too many redirects."""


def check_url(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an http(s) URL; raises OutboundRefused."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise OutboundRefused(f"{url!r} is not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise OutboundRefused(f"only http and https URLs can be loaded, not {parts.scheme or 'a URL without scheme'}:")
    if not parts.hostname:
        raise OutboundRefused(f"{url!r} has no host")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


def refusal(address: Address, allow_private: bool) -> str:
    """Why an address may not be fetched ('' if it may)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if address.is_multicast or address.is_unspecified:
        return "a multicast or unspecified address"
    if allow_private:
        return ""
    for kind in ("loopback", "link_local", "private", "reserved"):
        if getattr(address, f"is_{kind}"):
            return f"a {kind.replace('_', '-')} address"
    if not address.is_global:
        return "not a public address"
    return ""


async def _resolve(host: str, port: int) -> list[Address]:
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise OutboundError(f"cannot resolve {host}: {exc.strerror or exc}") from None
    addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos))
    if not addresses:
        raise OutboundError(f"cannot resolve {host}")
    return addresses


async def resolve_public(host: str, port: int, allow_private: bool) -> Address:
    """The address to connect to: the host resolved once; every address it resolves to must be allowed."""
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        addresses = await _resolve(host, port)
    for address in addresses:
        reason = refusal(address, allow_private)
        if reason:
            raise OutboundRefused(f"refusing to load {host}: {address} is {reason}")
    return addresses[0]


async def fetch(url: str, *, allow_private: bool, max_bytes: int, timeout: float, user_agent: str,
                accept: str = "*/*") -> tuple[str, bytes, str, bool]:
    """GET url, connecting only to checked addresses and re-checking every redirect.
    Returns (final url, body up to max_bytes, content type, truncated)."""
    async with httpx.AsyncClient(follow_redirects=False, trust_env=False, timeout=timeout) as client:
        for _ in range(MAX_REDIRECTS + 1):
            scheme, host, port = check_url(url)
            address = await resolve_public(host, port, allow_private)
            parts = urlsplit(url)
            ip_host = f"[{address}]" if address.version == 6 else str(address)
            target = urlunsplit((scheme, f"{ip_host}:{port}", parts.path or "/", parts.query, ""))
            name = f"[{host}]" if ":" in host else host
            default_port = port == (443 if scheme == "https" else 80)
            headers = {"Host": name if default_port else f"{name}:{port}", "User-Agent": user_agent,
                       "Accept": accept}
            request = client.build_request("GET", target, headers=headers,
                                           extensions={"sni_hostname": host} if scheme == "https" else {})
            response = await client.send(request, stream=True)
            try:
                if response.is_redirect:
                    url = urljoin(url, response.headers.get("location", ""))
                    continue
                if response.status_code >= 400:
                    raise OutboundError(f"{url} answered HTTP {response.status_code}")
                body, truncated = bytearray(), False
                async for data in response.aiter_bytes():
                    body += data
                    if len(body) > max_bytes:
                        del body[max_bytes:]
                        truncated = True
                        break
                return url, bytes(body), response.headers.get("content-type", ""), truncated
            finally:
                await response.aclose()
    raise OutboundError(f"too many redirects (more than {MAX_REDIRECTS}) from {url}")
