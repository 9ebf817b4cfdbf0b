"""The API docs page and the security headers every HTML page of the gateway carries (docs, console).

Pages get a Content-Security-Policy that allows only our own origin plus the exact inline scripts of the
page (by hash, computed once when the page is loaded), and may not be framed (clickjacking). Swagger UI's
assets come from an installed package (fastapi-offline ships them), never from a CDN.
"""

import base64
import hashlib
import importlib.resources
import re
from pathlib import Path

from starlette.responses import HTMLResponse

SWAGGER_ASSETS = Path(str(importlib.resources.files("fastapi_offline") / "static"))
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)
NOSNIFF = {"x-content-type-options": "nosniff"}

DOCS_HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Agentic Platform API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
<link rel="icon" href="/docs/assets/favicon.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script>
SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true,
                 layout: "BaseLayout",
                 presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset]});
</script>
</body>
</html>
"""


def page_headers(html: str) -> dict[str, str]:
    """Headers for an HTML page of ours: a CSP naming its inline scripts by hash, no framing, no sniffing."""
    scripts = " ".join(["'self'", *(
        f"'sha256-{base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()}'"
        for script in _INLINE_SCRIPT.findall(html))])
    policy = ("default-src 'self'; "
              f"script-src {scripts}; "
              "style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; "
              "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
    return {"content-security-policy": policy, "x-frame-options": "DENY", "referrer-policy": "no-referrer",
            **NOSNIFF}


class Page:
    """An HTML page read once, served with its headers."""

    def __init__(self, html: str):
        self.html, self.headers = html, page_headers(html)

    def response(self) -> HTMLResponse:
        return HTMLResponse(self.html, headers=self.headers)
