"""Knowledge bases in the console: a collection, an uploaded Markdown file and a text followed to their final
status, a file that fails with its reason, the search playground, deletes. Real gateway, services, browser."""

import re

from playwright.async_api import Page, expect

from tests.console.conftest import SCREENSHOTS
from tests.console.test_console import sign_up

HANDBOOK = """# Leave

Every employee gets 25 days of paid leave a year; unused days carry over until March.

# Expenses

Travel receipts are submitted within 30 days through the finance portal.

# Security

Laptops lock after five minutes and disks are encrypted.
"""


def document(page: Page, name: str):
    return page.get_by_test_id(f"document-{name}")


async def test_a_knowledge_base_ingests_an_upload_and_finds_the_right_chunk(page: Page, tmp_path):
    await sign_up(page)
    await page.get_by_role("link", name="Knowledge bases").click()
    await expect(page.get_by_role("heading", name="Knowledge bases")).to_be_visible()
    await expect(page.get_by_text("No collections yet.")).to_be_visible()

    # The API's violation next to its field, then a collection with its own chunking.
    await page.get_by_role("button", name="Create collection").click()
    await expect(page.locator('.field-error[data-field="name"]')).to_be_visible()
    await page.get_by_label("Name", exact=True).fill("Handbook")
    await page.get_by_label("Description").fill("HR policies")
    await page.get_by_label("Splitter").select_option("markdown")
    await page.get_by_label("Chunk size").fill("200")
    await page.get_by_role("button", name="Create collection").click()
    await expect(page.get_by_role("heading", name="Handbook")).to_be_visible()
    await expect(page.locator(".facts")).to_contain_text("markdown · 200 characters")
    await expect(page.locator(".facts")).to_contain_text("builtin / hashing-v1 · 384 dimensions")

    # Upload a Markdown file (with metadata) and an unreadable JSON file; add a text.
    (tmp_path / "handbook.md").write_text(HANDBOOK)
    (tmp_path / "broken.json").write_text("{not json")
    await page.get_by_label("File", exact=True).set_input_files(tmp_path / "handbook.md")
    await page.get_by_label("File metadata (JSON, optional)").fill('{"team": "hr"}')
    await page.get_by_role("button", name="Upload").click()
    await expect(document(page, "handbook.md")).to_be_visible()
    await page.get_by_label("File", exact=True).set_input_files(tmp_path / "broken.json")
    await page.get_by_role("button", name="Upload").click()
    await page.get_by_label("Document name").fill("wifi note")
    await page.get_by_label("Text", exact=True).fill("The office wifi password rotates every Monday morning.")
    await page.get_by_role("button", name="Add text").click()

    # The list follows ingestion by itself: completed, or failed with the reason.
    await expect(document(page, "handbook.md").get_by_test_id("status")).to_have_text("completed")
    await expect(document(page, "wifi note").get_by_test_id("status")).to_have_text("completed")
    await expect(document(page, "broken.json").get_by_test_id("status")).to_have_text("failed")
    await expect(document(page, "broken.json").locator(".field-error")).not_to_be_empty()
    await expect(page.get_by_test_id("collection-counts")).to_contain_text("3 documents")

    # Search: the leave chunk first, with its score, document and metadata (the heading and the file's).
    await page.get_by_label("Query").fill("how many days of paid leave")
    await page.get_by_label("Top k").fill("2")
    await page.get_by_role("button", name="Search", exact=True).click()
    results = page.get_by_test_id("results").locator("li")
    await expect(results).to_have_count(2)
    first = results.first
    await expect(first.locator("pre")).to_contain_text("25 days of paid leave")
    await expect(first).to_contain_text("handbook.md")
    await expect(first.locator(".metadata")).to_contain_text('"team":"hr"')
    await expect(first.locator(".metadata")).to_contain_text("Leave")
    await expect(first.locator(".badge")).to_have_text(re.compile(r"^-?\d+\.\d{4}$"))
    await page.screenshot(path=SCREENSHOTS / "knowledge-search.png", full_page=True)
    # Keyword mode, one result: the text document.
    await page.get_by_label("Mode").select_option("KEYWORD")
    await page.get_by_label("Query").fill("wifi password")
    await page.get_by_label("Top k").fill("1")
    await page.get_by_role("button", name="Search", exact=True).click()
    await expect(results).to_have_count(1)
    await expect(results.first).to_contain_text("wifi note")
    # A metadata filter: only a JSON object, then only the handbook's chunks carry {"team": "hr"}.
    await page.get_by_label("Metadata filter (JSON, optional)").fill("team=hr")
    await page.get_by_role("button", name="Search", exact=True).click()
    await expect(page.locator('.field-error[data-field="filter"]')).to_contain_text("JSON object")
    await page.get_by_label("Metadata filter (JSON, optional)").fill('{"team": "hr"}')
    await page.get_by_role("button", name="Search", exact=True).click()
    await expect(results).to_have_text(["No chunk matches."])
    await page.get_by_label("Query").fill("travel receipts")
    await page.get_by_role("button", name="Search", exact=True).click()
    await expect(results).to_have_count(1)
    await expect(results.first.locator("pre")).to_contain_text("Travel receipts are submitted")
    # An empty query is the API's violation, next to its field.
    await page.get_by_label("Query").fill("")
    await page.get_by_role("button", name="Search", exact=True).click()
    await expect(page.locator('.field-error[data-field="query"]')).to_be_visible()

    # Delete a document, then the collection.
    page.once("dialog", lambda dialog: dialog.accept())
    await page.get_by_role("button", name="Delete document broken.json").click()
    await expect(document(page, "broken.json")).to_have_count(0)
    await expect(page.get_by_test_id("collection-counts")).to_contain_text("2 documents")
    page.once("dialog", lambda dialog: dialog.accept())
    await page.get_by_role("button", name="Delete collection").click()
    await expect(page.get_by_text("No collections yet.")).to_be_visible()


async def test_an_upload_shows_its_progress_and_can_be_cancelled(page: Page, tmp_path):
    await sign_up(page)
    await page.goto("/#/knowledge")
    await page.get_by_label("Name", exact=True).fill("Big files")
    await page.get_by_role("button", name="Create collection").click()
    await expect(page.get_by_role("heading", name="Big files")).to_be_visible()

    # A slow uplink (Chromium's own throttling): 300 KiB at 100 KiB/s.
    cdp = await page.context.new_cdp_session(page)
    await cdp.send("Network.enable")
    await cdp.send("Network.emulateNetworkConditions", {
        "offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 100 * 1024})
    (tmp_path / "big.txt").write_text("All work and no play makes a dull chunk.\n" * 7_500)
    await page.get_by_label("File", exact=True).set_input_files(tmp_path / "big.txt")
    await page.get_by_role("button", name="Upload").click()
    progress = page.get_by_label("Upload progress")
    await expect(progress).to_be_visible()
    # Part way: more than nothing, less than all.
    await expect(page.get_by_test_id("upload-percent")).to_have_text(re.compile(r"^[1-9]\d? %$"))
    await page.get_by_role("button", name="Cancel upload").click()
    await expect(progress).to_have_count(0)
    await expect(page.get_by_role("button", name="Upload")).to_be_enabled()
    await expect(page.get_by_role("alert")).to_have_count(0)  # a cancel is not an error
    # Nothing half-uploaded was stored.
    await page.reload()
    await expect(page.get_by_role("heading", name="Big files")).to_be_visible()
    await expect(page.get_by_text("No documents yet.")).to_be_visible()
