"""Input checks that every service makes the same way."""

import uuid

from services.common.errors import InvalidArgument


def parse_id(value: str, field: str = "id") -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        raise InvalidArgument(field, "must be an id returned by this API") from None


def require_text(value: str, field: str, max_length: int = 200) -> str:
    value = value.strip()
    if not value:
        raise InvalidArgument(field, "is required")
    if len(value) > max_length:
        raise InvalidArgument(field, f"must be at most {max_length} characters")
    return value


def parse_etag(etag: str, field: str) -> int | None:
    """The revision in an etag we issued ('"3"', W/ allowed); None when the client sent none."""
    if not etag:
        return None
    try:
        return int(etag.replace("W/", "").strip('"'))
    except ValueError:
        raise InvalidArgument(field, "not an etag returned by this API") from None
