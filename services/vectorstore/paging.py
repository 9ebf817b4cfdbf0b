"""Keyset page tokens over (created_at, id), newest first: the one paging rule of collections, documents and
evaluation runs."""

import uuid
from datetime import datetime

from services.common.errors import InvalidArgument
from services.common.pagination import decode_cursor, encode_cursor, page_size


def after(token: str) -> tuple[datetime, uuid.UUID] | None:
    cursor = decode_cursor(token)
    if cursor is None:
        return None
    try:
        return datetime.fromisoformat(cursor["t"]), uuid.UUID(cursor["id"])
    except (KeyError, ValueError, TypeError):
        raise InvalidArgument("page_token", "not a page token returned by this API") from None


async def page(fetch, size: int, token: str) -> tuple[list, str]:
    """Rows of one page and the token of the next ('' at the end); `fetch(after, limit)` reads the rows."""
    limit = page_size(size)
    rows = await fetch(after(token), limit + 1)
    if len(rows) > limit:
        rows = rows[:limit]
        return rows, encode_cursor({"t": rows[-1].created_at.isoformat(), "id": str(rows[-1].id)})
    return rows, ""
