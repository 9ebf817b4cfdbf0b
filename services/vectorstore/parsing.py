"""File bytes -> text sections with their metadata: plain text, Markdown, HTML, PDF (pypdf), CSV, JSON.

Pure functions, run in a worker thread by ingestion. A file that cannot be read raises UnreadableDocument,
which fails the document with its message.
"""

import csv
import io
import json
import posixpath
from dataclasses import dataclass, field

from services.common.html_text import html_to_text

TEXT, MARKDOWN, HTML, PDF, CSV, JSON = ("text/plain", "text/markdown", "text/html", "application/pdf", "text/csv",
                                       "application/json")
CONTENT_TYPES = (TEXT, MARKDOWN, HTML, PDF, CSV, JSON)
_BY_EXTENSION = {".txt": TEXT, ".text": TEXT, ".md": MARKDOWN, ".markdown": MARKDOWN, ".html": HTML, ".htm": HTML,
                 ".pdf": PDF, ".csv": CSV, ".json": JSON}
_ALIASES = {"application/xhtml+xml": HTML, "text/x-markdown": MARKDOWN, "application/csv": CSV,
            "text/json": JSON}


class UnreadableDocument(Exception):
    pass


@dataclass
class Section:
    text: str
    metadata: dict = field(default_factory=dict)


def content_type_of(declared: str, name: str) -> str:
    """The type we parse a file as: the declared media type if we know it, else the name's extension;
    '' when neither is one we read. Generic types (octet-stream) defer to the extension."""
    media = declared.split(";")[0].strip().lower()
    media = _ALIASES.get(media, media)
    if media in CONTENT_TYPES:
        return media
    return _BY_EXTENSION.get(posixpath.splitext(name.lower())[1], "")


def _decode(data: bytes) -> str:
    # PostgreSQL text cannot hold NUL characters.
    return data.decode("utf-8-sig", errors="replace").replace("\x00", "")


def parse(data: bytes, content_type: str) -> list[Section]:
    if content_type == PDF:
        return _pdf(data)
    text = _decode(data)
    if content_type == HTML:
        text, title = html_to_text(text)
        return [Section(text, {"title": title} if title else {})]
    if content_type == CSV:
        return [Section(_csv(text))]
    if content_type == JSON:
        return [Section(_json(text))]
    return [Section(text)]


def _pdf(data: bytes) -> list[Section]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        return [Section(_decode((page.extract_text() or "").encode()), {"page": number})
                for number, page in enumerate(reader.pages, start=1)]
    except (PdfReadError, ValueError, KeyError, TypeError) as exc:
        raise UnreadableDocument(f"not a readable PDF: {exc}") from None


def _csv(text: str) -> str:
    """One line per row, `column: value` pairs, so each chunk carries its column names."""
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:
        raise UnreadableDocument(f"not readable CSV: {exc}") from None
    if not rows:
        return ""
    header, lines = rows[0], []
    for row in rows[1:]:
        lines.append("; ".join(f"{name}: {value}" for name, value in zip(header, row, strict=False) if value))
    return "\n".join(line for line in lines if line)


def _json(text: str) -> str:
    """A list becomes one line per item; anything else is indented so the splitter can cut between keys."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise UnreadableDocument(f"not valid JSON: {exc}") from None
    if isinstance(value, list):
        return "\n".join(json.dumps(item, ensure_ascii=False) for item in value)
    return json.dumps(value, ensure_ascii=False, indent=1)
