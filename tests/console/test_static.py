"""How the gateway serves the built console: index revalidated on every load, hashed assets cached for a year."""

import re

import httpx
from fastapi import FastAPI


async def test_index_is_revalidated_and_hashed_assets_are_immutable(console_url):
    async with httpx.AsyncClient(base_url=console_url) as http:
        index = await http.get("/")
        assert index.status_code == 200 and index.headers["cache-control"] == "no-cache"
        assert "<title>Agentic Platform</title>" in index.text
        assets = re.findall(r'(?:src|href)="(/assets/[^"]+)"', index.text)
        assert any(a.endswith(".js") for a in assets) and any(a.endswith(".css") for a in assets)
        for path in assets:
            assert re.search(r"-[\w-]{8}\.(js|css)$", path), path  # content hash in the name
            asset = await http.get(path)
            assert asset.status_code == 200 and asset.headers["cache-control"] == "public, max-age=31536000, immutable"
        missing = await http.get("/assets/nope-12345678.js")
        assert missing.status_code == 404 and missing.json()["status"] == "NOT_FOUND"
        # No CDN at run time: everything the page loads is served from here.
        assert "http" not in "".join(re.findall(r'(?:src|href)="([^"]+)"', index.text))


async def test_an_unbuilt_console_says_how_to_build_it(tmp_path):
    from gateway.static import mount_console

    app = FastAPI()
    mount_console(app, tmp_path / "dist")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        response = await http.get("/")
    assert response.status_code == 503 and "make web" in response.text
