"""Small files of every type the vectorstore reads, made by the tests (no fixtures on disk)."""


def pdf(pages: list[str]) -> bytes:
    """A valid PDF with one line of Helvetica text per page (pypdf extracts it back)."""
    objects = ["<< /Type /Catalog /Pages 2 0 R >>", ""]
    kids, font = [], 3 + 2 * len(pages)
    for number, text in enumerate(pages):
        page, content = 3 + 2 * number, 4 + 2 * number
        kids.append(f"{page} 0 R")
        stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET"
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
                       f"/Resources << /Font << /F1 {font} 0 R >> >> /Contents {content} 0 R >>")
        objects.append(f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream")
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(pages)} >>"
    objects.append("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{offset:010d} 00000 n \n" for offset in offsets).encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


MARKDOWN = b"""# Handbook

Welcome to the handbook.

## Holidays

Employees get twenty-five days of paid holiday each year.

## Expenses

Submit receipts within thirty days.
"""

HTML = b"""<html><head><title>Release notes</title><style>body {color: red}</style></head>
<body><script>var secret = "do not index";</script><h1>Version 2</h1><p>Faster search &amp; smaller indexes.</p></body>
</html>"""

CSV = b"name,city,language\nAda,London,English\nLinus,Helsinki,Finnish\n"

JSON = b'[{"sku": "A-1", "title": "Blue kettle"}, {"sku": "B-2", "title": "Red teapot"}]'
