"""Opaque page tokens (AIP-158): base64 of a small JSON cursor, checked on the way back in."""

import base64
import json
import uuid
from datetime import datetime

from services.common.errors import InvalidArgument

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000


def page_size(requested: int) -> int:
    if requested < 0:
        raise InvalidArgument("page_size", "must not be negative")
    return min(requested or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def encode_cursor(cursor: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(cursor, separators=(",", ":")).encode()).decode()


def decode_cursor(token: str) -> dict | None:
    if not token:
        return None
    try:
        cursor = json.loads(base64.urlsafe_b64decode(token.encode()))
    except ValueError:
        raise InvalidArgument("page_token", "not a page token returned by this API") from None
    if not isinstance(cursor, dict):
        raise InvalidArgument("page_token", "not a page token returned by this API")
    return cursor


def created_after(token: str) -> tuple[datetime, uuid.UUID] | None:
    """The (created_at, id) a keyset page token points after, newest first; None for the first page."""
    cursor = decode_cursor(token)
    if cursor is None:
        return None
    try:
        return datetime.fromisoformat(cursor["t"]), uuid.UUID(cursor["id"])
    except (KeyError, ValueError, TypeError):
        raise InvalidArgument("page_token", "not a page token returned by this API") from None


async def keyset_page(fetch, size: int, token: str) -> tuple[list, str]:
    """Rows of one page over (created_at, id), newest first, and the next page's token ('' at the end).
    `fetch(after, limit)` reads the rows."""
    limit = page_size(size)
    rows = await fetch(created_after(token), limit + 1)
    if len(rows) > limit:
        rows = rows[:limit]
        return rows, encode_cursor({"t": rows[-1].created_at.isoformat(), "id": str(rows[-1].id)})
    return rows, ""
