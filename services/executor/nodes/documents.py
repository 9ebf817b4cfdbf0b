"""Documents: load a web page (with SSRF protection), split text into chunks, summarize with a chat model.

A document is {"content": text, "metadata": {...}}; the splitter outputs a list of them, one a chunk.
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from typing import Any

import httpx
from langchain_core.messages import HumanMessage, SystemMessage

from services.common import outbound
from services.common.html_text import html_to_text
from services.executor.nodes.base import (
    Node,
    NodeContext,
    NodeError,
    NodeResult,
    ParamError,
    as_text,
    fetch_outbound,
    int_param,
    text_param,
)
from services.executor.nodes.chat import MODEL_PROPERTIES, ModelNode, ask, stream_answer

# --- documents ------------------------------------------------------------------------------------------

def documents_of(value: Any) -> list[dict]:
    """A node input as documents: a text, a document, or a list of texts and documents."""
    items = value if isinstance(value, list) else [value]
    docs = []
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("content"), str):
            metadata = item.get("metadata")
            docs.append({"content": item["content"], "metadata": dict(metadata) if isinstance(metadata, dict) else {}})
        elif item is not None:
            docs.append({"content": as_text(item), "metadata": {}})
    return docs


# --- splitting ------------------------------------------------------------------------------------------

_SEPARATORS = ("\n\n", "\n", " ", "")


def split_text(text: str, chunk_size: int, chunk_overlap: int) -> list[str]:
    """Chunks of at most chunk_size characters, cut at paragraphs, then lines, then spaces, then anywhere;
    neighbouring chunks share up to chunk_overlap characters of whole pieces."""
    return [chunk.strip() for chunk in _split(text, _SEPARATORS, chunk_size, chunk_overlap) if chunk.strip()]


def _split(text: str, separators: tuple[str, ...], size: int, overlap: int) -> list[str]:
    if len(text) <= size:
        return [text]
    separator = next(s for s in separators if s == "" or s in text)
    finer = separators[separators.index(separator) + 1:]
    chunks: list[str] = []
    fitting: list[str] = []
    for piece in text.split(separator) if separator else list(text):
        if len(piece) <= size:
            fitting.append(piece)
            continue
        chunks.extend(_merge(fitting, separator, size, overlap))
        fitting = []
        chunks.extend(_split(piece, finer, size, overlap))
    chunks.extend(_merge(fitting, separator, size, overlap))
    return chunks


def _merge(pieces: list[str], separator: str, size: int, overlap: int) -> list[str]:
    """Joins pieces (each at most size) into chunks of at most size, starting each chunk with the trailing
    pieces of the one before that fit in overlap."""
    chunks: list[str] = []
    window: deque[str] = deque()
    length = 0  # len(separator.join(window))
    for piece in pieces:
        if window and length + len(separator) + len(piece) > size:
            chunks.append(separator.join(window))
            while window and (length > overlap or length + len(separator) + len(piece) > size):
                length -= len(window.popleft()) + (len(separator) if window else 0)
        length += len(piece) + (len(separator) if window else 0)
        window.append(piece)
    if window:
        chunks.append(separator.join(window))
    return chunks


class TextSplitter(Node):
    type = "text_splitter"
    category = "retrieval"
    display_name = "Text splitter"
    description = ("Splits the input text (or documents) into chunks of at most chunk_size characters at "
                   "paragraph, line and word boundaries, overlapping by up to chunk_overlap characters.")
    params_schema = {"type": "object", "required": ["chunk_size"], "properties": {
        "chunk_size": {"type": "integer", "minimum": 1, "maximum": 100000},
        "chunk_overlap": {"type": "integer", "minimum": 0, "description": "less than chunk_size"}}}

    def configure(self, params: dict) -> None:
        self.chunk_size = int_param(params, "chunk_size", default=1000, minimum=1, maximum=100_000)
        self.chunk_overlap = int_param(params, "chunk_overlap", default=min(200, self.chunk_size // 5), minimum=0,
                                       maximum=self.chunk_size - 1)

    async def run(self, ctx: NodeContext) -> NodeResult:
        chunks = []
        for doc in documents_of(ctx.input):
            for text in split_text(doc["content"], self.chunk_size, self.chunk_overlap):
                chunks.append({"content": text, "metadata": {**doc["metadata"], "chunk": len(chunks)}})
        return NodeResult(chunks)


# --- summarizing ----------------------------------------------------------------------------------------

MAX_SUMMARY_CHUNKS = 500
MAP_CONCURRENCY = 5
SUMMARY_PROMPT = "Write a concise summary of the text the user sends. Answer with the summary only."
COMBINE_PROMPT = ("The user sends summaries of consecutive parts of one document. Combine them into one concise "
                  "summary of the whole document. Answer with the summary only.")


class Summarize(ModelNode):
    type = "summarize"
    category = "chains"
    display_name = "Summarize"
    description = ("Summarizes the input text or documents with a chat model: `stuff` sends everything at once, "
                   "`map_reduce` summarizes each chunk and then combines the summaries. Streams the summary.")
    params_schema = {"type": "object", "required": ["model"], "properties": {
        **MODEL_PROPERTIES, "strategy": {"type": "string", "enum": ["stuff", "map_reduce"]}}}
    default_timeout_seconds = 300.0
    default_temperature = 0.3

    def configure_node(self, params: dict) -> None:
        self.strategy = text_param(params, "strategy", default="stuff", max_length=20)
        if self.strategy not in ("stuff", "map_reduce"):
            raise ParamError("strategy", "must be 'stuff' or 'map_reduce'")

    async def run(self, ctx: NodeContext) -> NodeResult:
        texts = [d["content"] for d in documents_of(ctx.input) if d["content"].strip()]
        if not texts:
            raise NodeError("there is no text to summarize (the input is empty)")
        if len(texts) > MAX_SUMMARY_CHUNKS:
            raise NodeError(f"the input has {len(texts)} chunks; at most {MAX_SUMMARY_CHUNKS} can be summarized "
                            "(split into larger chunks)")
        if self.strategy == "stuff" or len(texts) == 1:
            messages = [SystemMessage(SUMMARY_PROMPT), HumanMessage("\n\n".join(texts))]
            return NodeResult(await stream_answer(self.spec, messages, ctx))
        gate = asyncio.Semaphore(MAP_CONCURRENCY)

        async def summarize(text: str) -> str:
            async with gate:
                return await ask(self.spec, [SystemMessage(SUMMARY_PROMPT), HumanMessage(text)], ctx)

        summaries = await asyncio.gather(*(summarize(text) for text in texts))
        combined = "\n\n".join(s.strip() for s in summaries if s.strip())
        return NodeResult(await stream_answer(self.spec, [SystemMessage(COMBINE_PROMPT), HumanMessage(combined)], ctx))


# --- loading web pages ----------------------------------------------------------------------------------

MAX_BODY_BYTES = 2 * 1024 * 1024
FETCH_SECONDS = 10.0


async def fetch_page(url: str) -> outbound.Fetched:
    """GET a page through the outbound guard; an HTTP error status is the node's error."""
    fetched = await fetch_outbound(url, headers={"Accept": "text/html,text/plain;q=0.9,*/*;q=0.5"},
                                   timeout=FETCH_SECONDS, max_bytes=MAX_BODY_BYTES)
    if fetched.status >= 400:
        raise NodeError(f"{fetched.url} answered HTTP {fetched.status}")
    return fetched


class WebLoader(Node):
    type = "web_loader"
    category = "retrieval"
    display_name = "Web page loader"
    description = ("Loads a public web page (http or https, at most 2 MiB, 10 seconds, 5 redirects) and outputs "
                   "its text as a document {content, metadata: {url}}.")
    params_schema = {"type": "object", "required": ["url"], "properties": {
        "url": {"type": "string", "format": "uri", "description": "http:// or https:// address of the page"}}}
    default_timeout_seconds = 30.0

    def configure(self, params: dict) -> None:
        self.url = text_param(params, "url", required=True, max_length=2000).strip()
        try:
            outbound.check_url(self.url)
        except outbound.OutboundRefused as exc:
            raise ParamError("url", str(exc)) from None

    async def run(self, ctx: NodeContext) -> NodeResult:
        try:
            async with asyncio.timeout(FETCH_SECONDS):
                page = await fetch_page(self.url)
        except TimeoutError:
            raise NodeError(f"loading {self.url} took longer than {FETCH_SECONDS:g} s") from None
        except httpx.HTTPError as exc:
            raise NodeError(f"cannot load {self.url}: {type(exc).__name__} {exc}".strip()) from None
        url, body, truncated = page.url, page.body, page.truncated
        content_type = page.headers.get("content-type", "")
        media_type = content_type.split(";")[0].strip().lower()
        if media_type and not (media_type.startswith("text/") or media_type in _TEXT_TYPES):
            raise NodeError(f"{url} is {media_type}, not a web page or text")
        match = re.search(r"charset=([\w.:-]+)", content_type, re.IGNORECASE)
        try:
            text = body.decode(match.group(1) if match else "utf-8", errors="replace")
        except LookupError:
            text = body.decode("utf-8", errors="replace")
        metadata: dict[str, Any] = {"url": url}
        if media_type in ("text/html", "application/xhtml+xml") or (not media_type and "<html" in text[:2000].lower()):
            text, title = html_to_text(text)
            if title:
                metadata["title"] = title
        if truncated:
            metadata["truncated"] = True
        return NodeResult({"content": text, "metadata": metadata})


_TEXT_TYPES = frozenset({"application/xhtml+xml", "application/json", "application/xml", "application/rss+xml",
                         "application/atom+xml"})
