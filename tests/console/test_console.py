"""The web console in a real browser: every step through the public REST/SSE API of the real gateway."""

import re
import uuid

import httpx
from playwright.async_api import Page, expect

from tests.console.conftest import SCREENSHOTS
from tests.console.proxy import CuttableProxy

PASSWORD = "correct horse battery"
SAVED = re.compile(r"^Saved · v\d+$")  # no save pending or running


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


async def test_build_and_run_a_workflow_on_the_canvas(page: Page, console_url):
    await sign_up(page)

    # From a template in the gallery.
    await page.get_by_role("button", name="New workflow").click()
    await expect(page.get_by_role("button", name="Use template Tool-using agent")).to_be_visible()
    await page.screenshot(path=SCREENSHOTS / "templates.png")
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

    # Saved (in one or more saves, as the edits came) as a draft with a warning, shown on the node and next
    # to the field.
    await expect(page.get_by_test_id("save-state")).to_have_text(SAVED)
    workflow_id = page.url.rsplit("/", 1)[1]
    stored = (await api(console_url, page, "GET", f"/workflows/{workflow_id}")).json()
    assert sorted((e["source"], e["target"]) for e in stored["flow_data"]["edges"]) == [
        ("chat", "template-1"), ("start", "chat"), ("template-1", "end")]
    await expect(node.locator(".node-problems")).to_contain_text("template: is required")
    await node.click()
    field = page.get_by_label("template *")
    await expect(page.locator(".side .field.invalid")).to_contain_text("is required")
    await page.screenshot(path=SCREENSHOTS / "editor-warning.png")
    await field.fill("Reply: {{ input }}!")
    await expect(node.locator(".node-problems")).to_have_count(0)
    await expect(page.locator(".side .field.invalid")).to_have_count(0)
    await expect(page.get_by_test_id("save-state")).to_have_text(SAVED)

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
    await page.get_by_label("Filter by status").select_option("SUCCEEDED")
    await page.get_by_label("Started after").fill("2099-01-01T00:00")
    await expect(page.get_by_text("No runs yet.")).to_be_visible()
    await page.get_by_label("Started after").fill("")
    await expect(page.locator("table.list tbody tr")).to_have_count(1)
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


async def api(console_url: str, page: Page, method: str, path: str, **kwargs) -> httpx.Response:
    """The same public API, called by the test as the signed-in user (to change things behind the page's back)."""
    async with httpx.AsyncClient(base_url=console_url) as http:
        return await http.request(method, f"/api/v1{path}", headers={"Authorization": f"Bearer {await token_of(page)}"},
                                  **kwargs)


async def test_settings_credentials_keys_members_and_organizations(page: Page, console_url):
    email = await sign_up(page)
    async with httpx.AsyncClient(base_url=console_url) as http:
        colleague = f"colleague-{uuid.uuid4().hex[:8]}@example.com"
        assert (await http.post("/api/v1/auth/signup", json={"email": colleague, "password": PASSWORD})).status_code == 200

    # Credentials: an empty name is refused next to its field; the secret never comes back.
    await page.get_by_role("link", name="Settings").click()
    form = page.get_by_role("form", name="New credential")
    await form.get_by_label("Secret").fill("sk-never-shown-1234")
    await form.get_by_role("button", name="Add credential").click()
    await expect(form.locator('.field-error[data-field="name"]')).to_be_visible()
    await form.get_by_label("Name").fill("main")
    await form.get_by_role("button", name="Add credential").click()
    row = page.locator("table.list tbody tr", has_text="main")
    await expect(row).to_contain_text("openai")
    await row.get_by_role("button", name="Rotate").click()
    await row.get_by_label("New secret for main").fill("sk-rotated-secret-5678")
    await row.get_by_role("button", name="Save").click()
    await expect(row.get_by_role("button", name="Rotate")).to_be_visible()
    html = await page.content()
    assert "sk-never-shown" not in html and "sk-rotated-secret" not in html
    await page.screenshot(path=SCREENSHOTS / "credentials.png")

    # API keys: shown once, and it works.
    await page.get_by_role("link", name="API keys").click()
    key_form = page.get_by_role("form", name="New API key")
    await key_form.get_by_label("Name").fill("ci")
    await key_form.get_by_role("button", name="Create key").click()
    key = await page.get_by_test_id("new-api-key").text_content()
    async with httpx.AsyncClient(base_url=console_url) as http:
        assert (await http.get("/api/v1/workflows", headers={"X-API-Key": key})).status_code == 200
    await page.get_by_role("button", name="Done").click()
    assert key not in await page.content()
    await expect(page.locator("table.list tbody tr", has_text="ci")).to_be_visible()

    # Members and roles.
    await page.get_by_role("link", name="Members").click()
    add = page.get_by_role("form", name="Add member")
    await add.get_by_label("Email").fill(colleague)
    await add.get_by_role("button", name="Add member").click()
    role = page.get_by_label(f"Role of {colleague}")
    await expect(role).to_have_value("member")
    await role.select_option("viewer")
    await expect(role).to_have_value("viewer")
    organization_id = await page.evaluate("JSON.parse(localStorage.getItem('agentic.session')).organization_id")
    members = (await api(console_url, page, "GET", f"/organizations/{organization_id}/members")).json()["members"]
    assert {m["email"]: m["role"] for m in members}[colleague] == "viewer"

    # A second organization, switched to from the top bar: its workflow list is its own.
    await page.get_by_role("link", name="Organizations").click()
    await page.get_by_role("form", name="New organization").get_by_label("Name").fill("Second org")
    await page.get_by_role("form", name="New organization").get_by_role("button", name="Create organization").click()
    await page.get_by_label("Organization", exact=True).select_option(label="Second org (owner)")
    await expect(page.get_by_role("heading", name="Workflows")).to_be_visible()
    await expect(page.get_by_text("No workflows yet")).to_be_visible()

    # Sign out, sign back in.
    await page.get_by_role("button", name="Sign out").click()
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill("wrong password!")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_contain_text("401")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Workflows")).to_be_visible()


async def test_session_is_refreshed_before_it_expires(page: Page):
    await sign_up(page)
    before = await token_of(page)
    # Pretend the access token has a minute and a bit left: the console refreshes it about a second later.
    await page.evaluate("""() => {
        const s = JSON.parse(localStorage.getItem('agentic.session'));
        localStorage.setItem('agentic.session', JSON.stringify({...s, expires_at: Date.now() + 61500}));
    }""")
    await page.reload()
    await page.wait_for_function("t => JSON.parse(localStorage.getItem('agentic.session')).access_token !== t", arg=before)
    expires_at = await page.evaluate("JSON.parse(localStorage.getItem('agentic.session')).expires_at")
    assert expires_at > await page.evaluate("Date.now() + 20 * 60 * 1000")
    await expect(page.get_by_role("heading", name="Workflows")).to_be_visible()


async def test_tabs_share_one_session_through_refresh_and_sign_out(page: Page):
    await sign_up(page)
    other = await page.context.new_page()
    await other.goto("/")
    await expect(other.get_by_role("heading", name="Workflows")).to_be_visible()
    before = await token_of(page)
    # Both tabs see the token near its end and, without jitter, go to refresh it at the same moment: one
    # refresh happens (the refresh token is single use) and both adopt it.
    await page.context.add_init_script("Math.random = () => 0")
    for tab in (page, other):
        await tab.evaluate("""() => {
            const s = JSON.parse(localStorage.getItem('agentic.session'));
            localStorage.setItem('agentic.session', JSON.stringify({...s, expires_at: Date.now() + 61500}));
        }""")
    await page.reload()
    await other.reload()
    await page.wait_for_function("t => JSON.parse(localStorage.getItem('agentic.session')).access_token !== t", arg=before)
    await page.wait_for_timeout(1500)  # past both tabs' refresh times
    assert await token_of(page) == await token_of(other) != before
    await other.get_by_role("link", name="Settings").click()
    await expect(other.get_by_role("heading", name="Credentials")).to_be_visible()  # its API calls still work
    # Signing out in one tab signs out both.
    await page.get_by_role("button", name="Sign out").click()
    await expect(other.get_by_role("heading", name="Sign in")).to_be_visible()


async def test_a_conflicting_save_shows_both_versions_and_overwrites_nothing(page: Page, console_url):
    await sign_up(page)
    await page.get_by_role("button", name="New workflow").click()
    await page.get_by_label("Name").fill("shared")
    await page.get_by_role("button", name="Create blank").click()
    await expect(page.get_by_test_id("save-state")).to_contain_text("Saved · v1")
    workflow_id = page.url.rsplit("/", 1)[1]
    theirs = (await api(console_url, page, "GET", f"/workflows/{workflow_id}")).json()
    theirs["flow_data"]["nodes"].append({"id": "their-node", "type": "delay", "position": {"x": 200, "y": 200},
                                         "data": {"seconds": 1}})
    saved = await api(console_url, page, "PATCH", f"/workflows/{workflow_id}?update_mask=flow_data",
                      json={"etag": theirs["etag"], "flow_data": theirs["flow_data"]})
    assert saved.status_code == 200, saved.text

    await page.get_by_role("button", name="Add Template").click()
    conflict = page.locator(".conflict")
    await expect(conflict).to_contain_text("changed elsewhere (now v2)")
    await expect(conflict).to_contain_text("only here: template-1")
    await expect(conflict).to_contain_text("only there: their-node")
    assert (await api(console_url, page, "GET", f"/workflows/{workflow_id}")).json()["version"] == 2
    await conflict.get_by_role("button", name="Use theirs").click()
    await expect(page.get_by_test_id("node-their-node")).to_be_visible()
    await expect(page.get_by_test_id("node-template-1")).to_have_count(0)
    await expect(page.get_by_test_id("save-state")).to_contain_text("Saved · v2")


async def test_answer_a_human_approval(page: Page, console_url):
    await sign_up(page)
    graph = {"nodes": [{"id": "start", "type": "start", "position": {"x": 0, "y": 0}, "data": {}},
                       {"id": "ok", "type": "human_approval", "position": {"x": 200, "y": 0}, "data": {"prompt": "Ship it?"}},
                       {"id": "shipped", "type": "template", "position": {"x": 450, "y": -80}, "data": {"template": "shipped"}},
                       {"id": "held", "type": "template", "position": {"x": 450, "y": 80}, "data": {"template": "held"}},
                       {"id": "end", "type": "end", "position": {"x": 700, "y": 0}, "data": {}}],
             "edges": [{"id": "a", "source": "start", "target": "ok"},
                       {"id": "b", "source": "ok", "target": "shipped", "sourceHandle": "approved"},
                       {"id": "c", "source": "ok", "target": "held", "sourceHandle": "rejected"},
                       {"id": "d", "source": "shipped", "target": "end"}, {"id": "e", "source": "held", "target": "end"}]}
    created = await api(console_url, page, "POST", "/workflows", json={"name": "approval", "flow_data": graph})
    await page.goto(f"/#/workflows/{created.json()['id']}")
    await page.get_by_role("button", name="Run", exact=True).click()
    await page.locator(".run-panel").get_by_role("button", name="Run", exact=True).click()
    approval = page.locator(".interrupt")
    await expect(approval).to_contain_text("Ship it?")
    await expect(page.get_by_test_id("node-ok")).to_have_attribute("data-status", "interrupted")
    await expect(page.get_by_test_id("run-phase")).to_have_text("interrupted")
    await approval.get_by_label("Comment").fill("looks good")
    await approval.get_by_role("button", name="Approve").click()
    await expect(page.get_by_test_id("run-phase")).to_have_text("succeeded")
    await expect(page.get_by_test_id("run-output")).to_have_text("shipped")
    await expect(page.get_by_test_id("node-held")).to_have_attribute("data-status", "idle")

    # Shared with the organization as a template, then in everyone's gallery.
    page.once("dialog", lambda dialog: dialog.accept("Release gate"))
    await page.get_by_role("button", name="Save as template").click()
    await expect(page.get_by_role("status").filter(has_text="Release gate")).to_be_visible()
    await page.get_by_role("link", name="Workflows").first.click()
    await page.get_by_role("button", name="New workflow").click()
    await page.get_by_role("button", name="Use template Release gate").click()
    await expect(page.get_by_test_id("node-ok")).to_be_visible()


async def test_a_narrow_screen_gets_a_usable_editor(browser, console_url):
    context = await browser.new_context(base_url=console_url, viewport={"width": 390, "height": 844})
    context.set_default_timeout(10_000)
    page = await context.new_page()
    try:
        await sign_up(page)
        await page.get_by_role("button", name="New workflow").click()
        await page.get_by_role("button", name="Use template Simple chat").click()
        await expect(page.get_by_test_id("node-chat")).to_be_in_viewport()
        await expect(page.get_by_role("button", name="Add Template")).to_be_visible()
        assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        # Connections without dragging handles (small screens, keyboards): from the node's panel.
        await page.get_by_test_id("node-chat").click()
        connections = page.get_by_role("region", name="Connections")
        await connections.get_by_role("button", name="Remove connection to end").click()
        await expect(page.locator(".react-flow__edge")).to_have_count(1)
        await connections.get_by_label("Connect to").select_option("end")
        await connections.get_by_role("button", name="Add").click()
        await expect(page.locator('.react-flow__edge[data-testid="rf__edge-e-chat-out-end"]')).to_have_count(1)
        await expect(page.get_by_test_id("save-state")).to_have_text(SAVED)
    finally:
        await context.close()


async def test_undo_versions_export_import_delete_and_restore(page: Page):
    await sign_up(page)
    await page.get_by_role("button", name="New workflow").click()
    await page.get_by_label("Name").fill("round trip")
    await page.get_by_role("button", name="Create blank").click()
    await expect(page.get_by_test_id("save-state")).to_contain_text("Saved · v1")

    # Drag a node from the palette onto the canvas; undo and redo it.
    await page.get_by_role("button", name="Add Delay").drag_to(page.locator(".react-flow__pane"), target_position={"x": 300, "y": 350})
    await expect(page.get_by_test_id("node-delay-1")).to_be_visible()
    await expect(page.get_by_test_id("save-state")).to_contain_text("Saved · v2")
    await page.get_by_role("button", name="Undo").click()
    await expect(page.get_by_test_id("node-delay-1")).to_have_count(0)
    await expect(page.get_by_test_id("save-state")).to_contain_text("Saved · v3")
    await page.locator(".react-flow__pane").click()
    await page.keyboard.press("Control+Shift+Z")
    await expect(page.get_by_test_id("node-delay-1")).to_be_visible()
    await expect(page.get_by_test_id("save-state")).to_contain_text("Saved · v4")

    # Versions: what changed, and restore an older one (as a new version).
    await page.get_by_role("button", name="Versions").click()
    await page.get_by_role("button", name="v2", exact=True).click()
    await expect(page.locator(".versions")).to_contain_text("Nodes added: delay-1")
    await page.get_by_role("button", name="v3", exact=True).click()
    await expect(page.locator(".versions")).to_contain_text("Nodes removed: delay-1")
    await page.get_by_role("button", name="Restore v3").click()
    await expect(page.get_by_test_id("node-delay-1")).to_have_count(0)
    await expect(page.get_by_test_id("save-state")).to_contain_text("Saved · v5")

    # Details: a refused name is shown next to its field; tags then filter the list.
    await page.get_by_role("button", name="Details").click()
    details = page.get_by_role("form", name="Details")
    await details.get_by_label("Name").fill("")
    await details.get_by_role("button", name="Save details").click()
    await expect(details.locator('.field-error[data-field="name"]')).to_be_visible()
    await details.get_by_label("Name").fill("round trip")
    await details.get_by_label("Tags").fill("demo, ops")
    await details.get_by_role("button", name="Save details").click()
    await expect(details.get_by_role("status")).to_have_text("Saved.")
    await page.get_by_role("link", name="Workflows").first.click()
    await page.get_by_label("Filter by tag").fill("ops")
    await expect(page.locator("table.list tbody tr")).to_have_count(1)
    await expect(page.locator("table.list tbody tr").first).to_contain_text("demo")
    await page.get_by_label("Filter by tag").fill("")

    # Export to a file, import it back as a new workflow.
    row = page.locator("table.list tbody tr", has_text="round trip")
    async with page.expect_download() as download_info:
        await row.get_by_role("button", name="Export").click()
    path = await (await download_info.value).path()
    await page.locator('input[type="file"]').set_input_files(path)
    await expect(page.get_by_test_id("node-start")).to_be_visible()
    await expect(page.get_by_test_id("save-state")).to_contain_text("Saved · v1")

    # Delete (confirmed) and restore from the deleted list.
    await page.get_by_role("link", name="Workflows").first.click()
    page.once("dialog", lambda dialog: dialog.accept())
    await page.locator("table.list tbody tr", has_text="round trip").first.get_by_role("button", name="Delete round trip").click()
    await expect(page.locator("table.list tbody tr", has_text="round trip")).to_have_count(1)
    await page.get_by_label("Deleted").check()
    await page.locator("table.list tbody tr", has_text="round trip").get_by_role("button", name="Restore").click()
    await page.get_by_label("Deleted").uncheck()
    await expect(page.locator("table.list tbody tr", has_text="round trip")).to_have_count(2)


async def test_chat_mode_keeps_a_conversation_in_a_thread(page: Page, console_url):
    await sign_up(page)
    await page.get_by_role("button", name="New workflow").click()
    await page.get_by_role("button", name="Use template Chat with memory").click()
    await page.get_by_role("button", name="Run", exact=True).click()
    await page.get_by_role("tab", name="Chat").click()
    messages = page.get_by_role("list", name="Messages")
    for turn, text in enumerate(["my name is Ada", "what is my name?"], start=1):
        await page.get_by_label("Message", exact=True).fill(text)
        await page.get_by_role("button", name="Send").click()
        await expect(page.get_by_test_id("run-phase")).to_have_text("succeeded")
        await expect(messages.locator(".streaming")).to_have_count(0)  # the thread's stored messages now
        await expect(messages.locator(".message")).to_have_count(2 * turn)
        await expect(messages.locator(".message.assistant").last).to_contain_text(text)
    # The second run saw the first turn (the memory node read the thread).
    await expect(messages.locator(".message.assistant").last).to_have_text("Echo (turn 2): what is my name?")
    await expect(page.get_by_label("Conversation")).to_contain_text("my name is Ada (4)")
    threads = (await api(console_url, page, "GET", "/threads")).json()["threads"]
    assert len(threads) == 1 and threads[0]["message_count"] == 4


async def test_a_refused_run_explains_why_and_a_running_one_can_be_cancelled(page: Page, console_url):
    await sign_up(page)
    graph = {"nodes": [{"id": "start", "type": "start", "position": {"x": 0, "y": 0}, "data": {}},
                       {"id": "wait", "type": "delay", "position": {"x": 200, "y": 0}, "data": {}},
                       {"id": "end", "type": "end", "position": {"x": 400, "y": 0}, "data": {}}],
             "edges": [{"id": "a", "source": "start", "target": "wait"}, {"id": "b", "source": "wait", "target": "end"}]}
    created = await api(console_url, page, "POST", "/workflows", json={"name": "slow", "flow_data": graph})
    await page.goto(f"/#/workflows/{created.json()['id']}")
    await page.get_by_role("button", name="Run", exact=True).click()
    await page.locator(".run-panel").get_by_role("button", name="Run", exact=True).click()
    refusal = page.locator(".run-panel .error")
    await expect(refusal).to_contain_text("cannot run")
    await expect(refusal).to_contain_text("400 FAILED_PRECONDITION")
    await expect(refusal.locator("li")).to_contain_text("nodes[wait].data.seconds")

    await page.get_by_test_id("node-wait").click()
    await page.get_by_label("seconds *").fill("30")
    await expect(page.get_by_test_id("save-state")).to_have_text(SAVED)
    await page.get_by_role("button", name="Run", exact=True).click()
    await page.locator(".run-panel").get_by_role("button", name="Run", exact=True).click()
    await expect(page.get_by_test_id("node-wait")).to_have_attribute("data-status", "running")
    # Looking at a node's settings mid-run does not stop following the run.
    await page.get_by_test_id("node-wait").click()
    await expect(page.get_by_label("seconds *")).to_have_value("30")
    await page.get_by_role("button", name="Run", exact=True).click()
    await expect(page.get_by_test_id("run-phase")).to_have_text("running")
    await page.locator(".run-panel").get_by_role("button", name="Cancel").click()
    await expect(page.get_by_test_id("run-phase")).to_have_text("cancelled")
    await expect(page.get_by_test_id("node-end")).to_have_attribute("data-status", "idle")
