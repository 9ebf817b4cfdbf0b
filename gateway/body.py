"""Reading request bodies within limits: size (413 without buffering more than the limit) and JSON depth."""

import json
import re

from gateway.transcoder import RequestError

_STRUCTURE = re.compile(rb'[\[\]{}"\\]')


class BodyTooLarge(Exception):
    pass


async def read_limited(request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise BodyTooLarge()
        except ValueError:
            raise RequestError("invalid Content-Length header") from None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge()
        chunks.append(chunk)
    return b"".join(chunks)


def json_depth_exceeds(raw: bytes, limit: int) -> bool:
    """Nesting depth check without recursion, so `[[[[...` is a 400, never a RecursionError."""
    depth, in_string, escaped = 0, False, False
    for match in _STRUCTURE.finditer(raw):
        char = match.group()
        if in_string:
            if escaped:
                escaped = False
            elif char == b"\\":
                # Only the character right after a backslash is escaped; it must be adjacent.
                escaped = raw[match.end():match.end() + 1] in (b'"', b"\\")
            elif char == b'"':
                in_string = False
            continue
        if char == b'"':
            in_string = True
        elif char in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        elif char in (b"]", b"}"):
            depth -= 1
    return False


def _reject_constant(name: str):
    raise RequestError(f"{name} is not valid JSON; numbers must be finite")


def parse_json(raw: bytes, max_depth: int):
    if not raw.strip():
        return None
    if json_depth_exceeds(raw, max_depth):
        raise RequestError(f"JSON nested deeper than {max_depth} levels")
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise RequestError("request body is not valid UTF-8") from None
    except json.JSONDecodeError as exc:
        raise RequestError(f"request body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
