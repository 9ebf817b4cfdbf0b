"""The web console in a real browser: every step through the public REST/SSE API of the real gateway."""

import uuid

import httpx
from playwright.async_api import Page, expect

from tests.console.conftest import SCREENSHOTS
from tests.console.proxy import CuttableProxy

PASSWORD = "correct horse battery"


async def sign_up(page: Page) -> str:
    email = f"ui-{uuid.uuid4().hex[:8]}@example.com"
    await page.goto("/")
    await page.get_by_role("button", name="Create an account").click()
    await page.get_by_label("Name").fill("Ada")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill("short")
    await page.get_by_role("button", name="Sign up").click()
    # The API's field violation is shown next to its field.
    await expect(page.locator('.field-error[data-field="password"]')).to_contain_text("10")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign up").click()
    await expect(page.get_by_role("heading", name="Workflows")).to_be_visible()
    return email


async def connect(page: Page, source: str, target: str) -> None:
    """Drags from a node's output handle to another node's input handle, as a user does."""
    start = await page.locator(f'.react-flow__handle.source[data-nodeid="{source}"]').bounding_box()
    end = await page.locator(f'.react-flow__handle.target[data-nodeid="{target}"]').bounding_box()
    await page.mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
    await page.mouse.down()
    await page.mouse.move(end["x"] + end["width"] / 2, end["y"] + end["height"] / 2, steps=8)
    await page.mouse.up()


async def token_of(page: Page) -> str:
    return await page.evaluate("JSON.parse(localStorage.getItem('agentic.session')).access_token")


async def test_build_and_run_a_workflow_on_the_canvas(page: Page):
    await sign_up(page)

    # From a template in the gallery.
    await page.get_by_role("button", name="New workflow").click()
    await page.get_by_role("button", name="Use template Simple chat").click()
    await expect(page.get_by_test_id("node-chat")).to_be_visible()
    await expect(page.get_by_test_id("save-state")).to_contain_text("Saved · v1")

    # Add a node from the palette (searched), put it between the chat model and the end node.
    await page.get_by_label("Search nodes").fill("templ")
    await page.get_by_role("button", name="Add Template").click()
    node = page.get_by_test_id("node-template-1")
    await expect(node).to_be_visible()
    await page.locator('[data-testid="rf__edge-e1"]').click(force=True)
    await page.keyboard.press("Delete")
    await expect(page.locator('[data-testid="rf__edge-e1"]')).to_have_count(0)
    await connect(page, "chat", "template-1")
    await connect(page, "template-1", "end")
    await expect(page.locator(".react-flow__edge")).to_have_count(3)

    # Saved as a draft with a warning on the node, shown on the node and next to the field.
    await expect(page.get_by_test_id("save-state")).to_contain_text("Saved · v2")
    await expect(node.locator(".node-problems")).to_contain_text("template: is required")
    await node.click()
    field = page.get_by_label("template *")
    await expect(page.locator(".side .field.invalid")).to_contain_text("is required")
    await field.fill("Reply: {{ input }}!")
    await expect(node.locator(".node-problems")).to_have_count(0)
    await expect(page.locator(".side .field.invalid")).to_have_count(0)
    await expect(page.get_by_test_id("save-state")).to_contain_text("Saved · v3")

    # Run it and watch it live: node statuses on the canvas, streamed tokens, the output.
    await page.get_by_role("button", name="Run", exact=True).click()
    await page.get_by_label("Input", exact=True).fill("hello canvas")
    await page.locator(".run-panel").get_by_role("button", name="Run", exact=True).click()
    await expect(page.get_by_test_id("run-phase")).to_have_text("succeeded")
    for node_id in ("start", "chat", "template-1", "end"):
        await expect(page.get_by_test_id(f"node-{node_id}")).to_have_attribute("data-status", "succeeded")
    await expect(page.get_by_test_id("tokens-chat")).to_have_text("Echo: hello canvas")
    await expect(page.get_by_test_id("run-output")).to_have_text("Reply: Echo: hello canvas!")
    await page.screenshot(path=SCREENSHOTS / "editor-run.png")

    # The run in the executions history, with its event timeline.
    await page.get_by_role("link", name="Executions").click()
    await page.locator("table.list tbody tr").first.get_by_role("link").click()
    timeline = page.get_by_test_id("timeline")
    await expect(timeline.locator(".event-run_completed")).to_have_count(1)
    await expect(timeline.locator(".event-token")).to_have_count(3)
    await page.screenshot(path=SCREENSHOTS / "execution-timeline.png")


async def test_a_run_survives_a_dropped_connection(browser, console_url):
    host, port = console_url.removeprefix("http://").split(":")
    proxy = CuttableProxy(host, int(port))
    context = await browser.new_context(base_url=await proxy.start(), viewport={"width": 1280, "height": 800})
    context.set_default_timeout(10_000)
    try:
        await drop_mid_run(await context.new_page(), proxy, console_url)
    finally:
        await context.close()
        await proxy.close()


async def drop_mid_run(page: Page, proxy: CuttableProxy, console_url: str):
    await sign_up(page)
    graph = {"nodes": [{"id": "start", "type": "start", "position": {"x": 0, "y": 0}, "data": {}},
                       {"id": "wait", "type": "delay", "position": {"x": 200, "y": 0}, "data": {"seconds": 2}},
                       {"id": "chat", "type": "chat_model", "position": {"x": 400, "y": 0}, "data": {"model": "offline-echo"}},
                       {"id": "end", "type": "end", "position": {"x": 600, "y": 0}, "data": {}}],
             "edges": [{"id": "a", "source": "start", "target": "wait"}, {"id": "b", "source": "wait", "target": "chat"},
                       {"id": "c", "source": "chat", "target": "end"}]}
    async with httpx.AsyncClient(base_url=console_url) as http:
        created = await http.post("/api/v1/workflows", json={"name": "slow", "flow_data": graph},
                                  headers={"Authorization": f"Bearer {await token_of(page)}"})
    workflow_id = created.json()["id"]
    await page.goto(f"/#/workflows/{workflow_id}")
    await page.get_by_role("button", name="Run", exact=True).click()
    await page.get_by_label("Input", exact=True).fill("still here")
    await page.locator(".run-panel").get_by_role("button", name="Run", exact=True).click()
    await expect(page.get_by_test_id("node-wait")).to_have_attribute("data-status", "running")

    # The network goes away mid-run: the stream drops, the panel says so, then it catches up from the last
    # event it saw (Last-Event-ID) and the run completes with every event once.
    proxy.cut()
    await expect(page.get_by_text("reconnecting…")).to_be_visible()
    proxy.restore()
    await expect(page.get_by_test_id("run-phase")).to_have_text("succeeded", timeout=15_000)
    await expect(page.get_by_test_id("reconnects")).to_contain_text("reconnected")
    await expect(page.get_by_test_id("tokens-chat")).to_have_text("Echo: still here")
    await expect(page.get_by_test_id("node-end")).to_have_attribute("data-status", "succeeded")
