"""Readable text of an HTML page (web loader, document ingestion): blocks as paragraphs, no scripts or styles."""

import re
from html.parser import HTMLParser


class _TextExtractor(HTMLParser):
    SKIP = frozenset({"script", "style", "noscript", "template", "svg", "head", "iframe", "object"})
    BLOCK = frozenset({"p", "div", "section", "article", "header", "footer", "main", "aside", "nav", "ul", "ol",
                       "li", "table", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "form",
                       "figure", "figcaption", "dl", "dt", "dd", "hr", "address", "details", "summary"})

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title: list[str] = []
        self.skipping = 0
        self.in_title = False

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self.skipping += 1
        elif tag == "title":
            self.in_title = True
        elif tag == "br":
            self.parts.append("\n")
        elif tag in self.BLOCK or tag in ("td", "th"):
            self.parts.append("\n\n" if tag in self.BLOCK else " ")

    def handle_endtag(self, tag):
        if tag in self.SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag == "title":
            self.in_title = False
        elif tag in self.BLOCK:
            self.parts.append("\n\n")

    def handle_data(self, data):
        if self.in_title:
            self.title.append(data)
        elif not self.skipping:
            self.parts.append(data)


def html_to_text(html: str) -> tuple[str, str]:
    """(text, title) of an HTML page: paragraphs separated by blank lines, scripts and styles left out."""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    text = re.sub(r"[^\S\n]+", " ", "".join(parser.parts))
    text = "\n".join(line.strip() for line in text.split("\n"))
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    return text, " ".join("".join(parser.title).split())
