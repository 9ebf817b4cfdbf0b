"""Browser fixtures: the console built by `make web`, served by the real gateway in front of the real services,
driven by Playwright in Debian's headless Chromium (never a downloaded browser)."""

import asyncio
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from playwright.async_api import expect

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# `make screenshots` points this at docs/screenshots (committed, two are in the README); a plain test run
# keeps its pictures out of the work tree.
SCREENSHOTS = Path(os.environ.get("CONSOLE_SCREENSHOTS", ROOT / ".data" / "screenshots")).resolve()
SCREENSHOTS.mkdir(parents=True, exist_ok=True)


# The machine is shared: give a step up to 10 s (as the page's own actions) before calling it failed.
expect.set_options(timeout=10_000)


@pytest.fixture(scope="session")
async def console_url(gateway_url):
    # Up to date in a moment when `make test` already built it; builds it when pytest runs on its own.
    await asyncio.to_thread(subprocess.run, ["make", "-s", "web"], cwd=ROOT, check=True)
    return gateway_url


@pytest.fixture(scope="session")
async def browser():
    from playwright.async_api import async_playwright

    assert Path(CHROMIUM).exists(), "the browser tests need Chromium: apt-get install chromium (make test does it)"
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield browser
        await browser.close()


@pytest.fixture
async def page(browser, console_url):
    context = await browser.new_context(base_url=console_url, viewport={"width": 1280, "height": 800})
    context.set_default_timeout(10_000)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    await context.close()
    assert not errors, f"uncaught errors in the page: {errors}"
