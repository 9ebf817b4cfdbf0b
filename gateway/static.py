"""The web console: gateway/web's build served at `/`.

Vite names every asset after a hash of its content, so `/assets/*` is cached for a year (immutable) and
`index.html`, which names the current assets, is revalidated on every load: a new build is picked up at once.
"""

from pathlib import Path

from fastapi import FastAPI
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

DIST = Path(__file__).with_name("web") / "dist"
NOT_BUILT = ("<!doctype html><title>Agentic Platform</title>"
             "<p>The web console is not built yet: run <code>make web</code> (<code>make run</code> does it).</p>")


class HashedAssets(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code == 200:
            response.headers["cache-control"] = "public, max-age=31536000, immutable"
        return response


def mount_console(app: FastAPI, dist: Path = DIST) -> None:
    index = dist / "index.html"

    @app.get("/", include_in_schema=False)
    async def console():
        if not index.is_file():
            return HTMLResponse(NOT_BUILT, status_code=503)
        return FileResponse(index, headers={"cache-control": "no-cache"})

    app.mount("/assets", HashedAssets(directory=dist / "assets", check_dir=False), name="assets")
