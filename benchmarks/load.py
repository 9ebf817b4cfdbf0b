"""A small keep-alive HTTP/1.1 load generator on asyncio streams.

httpx costs more CPU per request than the gateway does, and on a 2-core machine the client shares the cores
with the server; raw streams keep the client's share small. Bounded by request count and by time.
GET or POST (JSON body); a response counts as an error unless it has the expected status and every given
marker in its body. Server-sent event streams (chunked) are read by `sse_request`.
"""

import asyncio
import json
import statistics
import time
from dataclasses import dataclass, field


@dataclass
class LoadResult:
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]
    first_error: str = ""  # status and body of the first failed response, to report

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def percentile(self, p: float) -> float:
        return percentile(self.latencies_ms, p)

    def line(self, name: str) -> str:
        return (f"{name:<34} {self.rate:8.0f} req/s   p50 {self.percentile(0.5):6.2f} ms   "
                f"p99 {self.percentile(0.99):6.2f} ms   errors {self.errors}/{self.requests}")


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def build_request(method: str, host: str, port: int, path: str, headers: dict[str, str],
                  body: object | None = None) -> bytes:
    """One HTTP/1.1 request; a body (not bytes) is sent as JSON."""
    payload = b""
    extra = dict(headers)
    if body is not None:
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        extra.setdefault("Content-Type", "application/json")
        extra["Content-Length"] = str(len(payload))
    head = (f"{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            + "".join(f"{k}: {v}\r\n" for k, v in extra.items()) + "\r\n")
    return head.encode() + payload


def _parse_head(head: bytes) -> tuple[int, int, bool]:
    """(status, content length, chunked) of a response head."""
    status = int(head[9:12])
    length = 0
    chunked = False
    for line in head.split(b"\r\n"):
        lowered = line.lower()
        if lowered.startswith(b"content-length:"):
            length = int(line[15:])
        elif lowered.startswith(b"transfer-encoding:") and b"chunked" in lowered:
            chunked = True
    return status, length, chunked


async def _read_chunk(reader: asyncio.StreamReader) -> bytes:
    """One chunk of a chunked body; b"" is the last one (its trailer is consumed)."""
    size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
    if size == 0:
        while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers, then the empty line
            pass
        return b""
    data = await reader.readexactly(size + 2)
    return data[:-2]


async def _chunks(reader: asyncio.StreamReader):
    while chunk := await _read_chunk(reader):
        yield chunk


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    status, length, chunked = _parse_head(await reader.readuntil(b"\r\n\r\n"))
    if chunked:
        return status, b"".join([chunk async for chunk in _chunks(reader)])
    return status, (await reader.readexactly(length)) if length else b""


async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> tuple[int, bytes]:
    """One request on a keep-alive connection: (status, body)."""
    writer.write(request)
    return await _read_response(reader)


async def run_load(host: str, port: int, path: str, headers: dict[str, str], *, concurrency: int = 32,
                   seconds: float = 5.0, max_requests: int = 100_000, expect: int = 200,
                   method: str = "GET", body: object | None = None, markers: tuple[bytes, ...] = ()) -> LoadResult:
    request = build_request(method, host, port, path, headers, body)
    deadline = time.perf_counter() + seconds
    latencies: list[float] = []
    errors = 0
    sent = 0
    first_error = ""

    async def worker() -> None:
        nonlocal errors, sent, first_error
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while time.perf_counter() < deadline and sent < max_requests:
                sent += 1
                started = time.perf_counter()
                writer.write(request)
                status, content = await _read_response(reader)
                latencies.append((time.perf_counter() - started) * 1000)
                if status != expect or not all(m in content for m in markers):
                    errors += 1
                    first_error = first_error or f"HTTP {status}: {content[:500].decode(errors='replace')}"
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return LoadResult(len(latencies), errors, time.perf_counter() - started, latencies, first_error)


@dataclass
class StreamResult:
    status: int
    first_event_ms: float  # request sent -> first `data:` line received (nan if none)
    total_ms: float  # request sent -> end of the stream
    events: int  # `data:` lines (one per event; the gateway's JSON is one line)
    event_types: list[str] = field(default_factory=list)
    error: str = ""  # the body of a non-200 answer


async def sse_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes, *,
                      timeout: float = 60.0, keep_types: bool = False) -> StreamResult:
    """Send one request on an open connection and read its text/event-stream answer to the end."""
    async with asyncio.timeout(timeout):
        started = time.perf_counter()
        writer.write(request)
        status, length, chunked = _parse_head(await reader.readuntil(b"\r\n\r\n"))
        if status != 200 or not chunked:
            if chunked:
                content = b"".join([chunk async for chunk in _chunks(reader)])
            else:
                content = (await reader.readexactly(length)) if length else b""
            return StreamResult(status, float("nan"), (time.perf_counter() - started) * 1000, 0,
                                error=f"HTTP {status}: {content[:500].decode(errors='replace')}")
        first = float("nan")
        events = 0
        types: list[str] = []
        pending = b""
        async for chunk in _chunks(reader):
            pending += chunk
            lines = pending.split(b"\n")
            pending = lines.pop()
            for line in lines:
                if line.startswith(b"data:"):
                    if not events:
                        first = (time.perf_counter() - started) * 1000
                    events += 1
                elif keep_types and line.startswith(b"event:"):
                    types.append(line[6:].strip().decode())
        return StreamResult(status, first, (time.perf_counter() - started) * 1000, events, types)


def summary(values: list[float]) -> str:
    return f"median {statistics.median(values):.2f} ms, min {min(values):.2f} ms, max {max(values):.2f} ms"
