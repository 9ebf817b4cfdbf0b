"""Sections -> chunks with langchain-text-splitters, per the collection's chunking settings."""

from dataclasses import dataclass

from services.common.errors import InvalidArgument
from services.vectorstore.parsing import MARKDOWN, Section

SPLITTERS = ("recursive", "markdown", "character")
MIN_CHUNK, MAX_CHUNK = 50, 20_000
_HEADINGS = [("#", "h1"), ("##", "h2"), ("###", "h3")]


@dataclass(frozen=True)
class Chunking:
    splitter: str = "recursive"
    chunk_size: int = 1000
    chunk_overlap: int = 200

    def check(self, field: str = "collection.chunking") -> None:
        if self.splitter not in SPLITTERS:
            raise InvalidArgument(f"{field}.splitter", f"must be one of {', '.join(SPLITTERS)}")
        if not MIN_CHUNK <= self.chunk_size <= MAX_CHUNK:
            raise InvalidArgument(f"{field}.chunk_size", f"must be between {MIN_CHUNK} and {MAX_CHUNK}")
        if not 0 <= self.chunk_overlap < self.chunk_size:
            raise InvalidArgument(f"{field}.chunk_overlap", "must be at least 0 and less than chunk_size")


def split(sections: list[Section], chunking: Chunking, content_type: str) -> list[tuple[str, dict]]:
    """(text, metadata) of every chunk in document order; metadata carries the section's (page, title) and,
    for Markdown, the heading path."""
    from langchain_text_splitters import (
        CharacterTextSplitter,
        MarkdownHeaderTextSplitter,
        RecursiveCharacterTextSplitter,
    )

    if chunking.splitter == "character":
        splitter = CharacterTextSplitter(separator="\n\n", chunk_size=chunking.chunk_size,
                                         chunk_overlap=chunking.chunk_overlap)
    else:
        splitter = RecursiveCharacterTextSplitter(chunk_size=chunking.chunk_size, chunk_overlap=chunking.chunk_overlap)
    by_heading = chunking.splitter == "markdown" or content_type == MARKDOWN
    chunks: list[tuple[str, dict]] = []
    for section in sections:
        parts = [(section.text, {})]
        if by_heading:
            headed = MarkdownHeaderTextSplitter(_HEADINGS, strip_headers=False).split_text(section.text)
            parts = [(doc.page_content, {"heading": " > ".join(doc.metadata[k] for _, k in _HEADINGS
                                                               if k in doc.metadata)}) for doc in headed]
        for text, extra in parts:
            for piece in splitter.split_text(text):
                if piece.strip():
                    chunks.append((piece, {**section.metadata, **{k: v for k, v in extra.items() if v}}))
    return chunks
