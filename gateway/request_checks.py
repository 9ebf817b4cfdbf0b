"""Checks of an HTTP request's envelope before it becomes a gRPC call: header size, media type, deadline.

Each failure is an `EdgeRefusal` with the HTTP status that says what to fix (431, 415, 400), so nothing a
client sends in its headers reaches gRPC in a form the gRPC library would refuse with its own text.
"""

import re

from gateway.settings import GatewaySettings

# gRPC's wire format: at most 8 digits and a unit (https://grpc.io/docs/guides/wire/).
_GRPC_TIMEOUT = re.compile(r"([0-9]{1,8})([HMSmun])")
_UNIT_SECONDS = {"H": 3600.0, "M": 60.0, "S": 1.0, "m": 1e-3, "u": 1e-6, "n": 1e-9}
JSON_TYPES = ("application/json",)


class EdgeRefusal(Exception):
    def __init__(self, http_status: int, message: str, field: str = ""):
        super().__init__(message)
        self.http_status, self.field = http_status, field


def check_headers(scope: dict, settings: GatewaySettings) -> None:
    """431 when the headers are larger than we forward downstream (gRPC metadata has its own, lower limit)."""
    total = 0
    for name, value in scope["headers"]:
        total += len(name) + len(value)
        if len(value) > settings.max_header_value_bytes and name in (b"authorization", b"x-api-key"):
            raise EdgeRefusal(431, f"the {name.decode()} header is larger than "
                                   f"{settings.max_header_value_bytes} bytes", name.decode())
    if total > settings.max_header_bytes:
        raise EdgeRefusal(431, f"request headers larger than {settings.max_header_bytes} bytes")


def check_json_content_type(content_type: str | None) -> None:
    """A body must say it is JSON: 415 otherwise (a form post or text is not silently read as JSON)."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type not in JSON_TYPES:
        raise EdgeRefusal(415, "the request body must be JSON: send Content-Type: application/json", "Content-Type")


def deadline(raw: str | None, settings: GatewaySettings) -> float:
    """`Grpc-Timeout` (e.g. `10S`, `500m`) as seconds: positive, at most the configured maximum."""
    if not raw:
        return settings.request_timeout_seconds
    match = _GRPC_TIMEOUT.fullmatch(raw.strip())
    if match is None or int(match.group(1)) == 0:
        raise EdgeRefusal(400, "Grpc-Timeout must be a positive integer of at most 8 digits and a unit "
                               "(H, M, S, m, u, n), e.g. 10S or 500m", "Grpc-Timeout")
    seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    return min(max(seconds, 0.001), settings.max_request_timeout_seconds)
