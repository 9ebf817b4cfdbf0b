"""Choosing a knowledge base's embedding in the console: an OpenAI-compatible endpoint with the organization's
credential as its key (a local fake server that accepts only that key), a local model, and the API's errors
next to the form with what the user typed kept. Real gateway, services, browser."""

import uuid

import httpx
import pytest
from playwright.async_api import Page, expect

from services.common import outbound
from tests.console.conftest import SCREENSHOTS
from tests.console.test_console import sign_up, token_of
from tests.vectorstore.fake_openai import serve

MODEL = "text-embedding-3-small"


@pytest.fixture
def org_key():
    return f"sk-org-{uuid.uuid4().hex}"


@pytest.fixture
def endpoint(org_key, vectorstore_service):
    """A model server on loopback that answers only to `org_key`; the operator allows its network
    (VECTORSTORE_OUTBOUND_ALLOW=["127.0.0.1/32"]) for the test."""
    server = serve(required_key=org_key)
    embedders = vectorstore_service.embedders
    policy = embedders.outbound_policy
    embedders.outbound_policy = outbound.Policy.of(False, ["127.0.0.1/32"])
    yield server
    embedders.outbound_policy = policy
    server.shutdown()
    server.server_close()


async def api(console_url: str, page: Page, method: str, path: str, **kwargs) -> httpx.Response:
    async with httpx.AsyncClient(base_url=f"{console_url}/api/v1") as client:
        return await client.request(method, path, headers={"Authorization": f"Bearer {await token_of(page)}"}, **kwargs)


async def add_credential(console_url: str, page: Page, name: str, secret: str) -> dict:
    response = await api(console_url, page, "POST", "/credentials", json={
        "credential": {"name": name, "service_type": "openai"}, "secret": secret})
    assert response.status_code == 200, response.text
    return response.json()


async def test_an_openai_compatible_knowledge_base_with_the_organizations_credential(page: Page, console_url, endpoint,
                                                                                     org_key):
    await sign_up(page)
    await page.goto("/#/knowledge")
    await page.get_by_label("Embedding provider").select_option(label="OpenAI-compatible")
    # No credential yet: a hint with the way to the settings page that manages them.
    hint = page.get_by_test_id("no-credentials")
    await expect(hint).to_contain_text("No credentials yet")
    await expect(hint.get_by_role("link", name="Settings → Credentials")).to_have_attribute("href", "#/settings/credentials")

    credential = await add_credential(console_url, page, "embedding key", org_key)
    await add_credential(console_url, page, "other key", "sk-other")
    # The select lists the organization's credentials when the provider is chosen again.
    await page.get_by_label("Embedding provider").select_option(label="Built-in (offline)")
    await expect(page.get_by_label("Base URL (optional)")).to_have_count(0)
    await page.get_by_label("Embedding provider").select_option(label="OpenAI-compatible")
    select = page.get_by_label("API key credential (optional)")
    await expect(select.locator("option")).to_have_text(
        ["None (the server's key, or no key)", "embedding key (openai)", "other key (openai)"])
    await expect(hint).to_have_count(0)

    await page.get_by_label("Name", exact=True).fill("Kettles")
    await page.get_by_label("Model").fill(MODEL)
    await page.get_by_label("Dimensions").fill("64")
    await page.get_by_label("Base URL (optional)").fill(endpoint.url)
    await select.select_option(label="embedding key (openai)")
    await page.screenshot(path=SCREENSHOTS / "knowledge-embedding.png", full_page=True)
    await page.get_by_role("button", name="Create collection").click()

    # The detail view: provider, model, size, endpoint and the credential by name (never its secret).
    await expect(page.get_by_role("heading", name="Kettles")).to_be_visible()
    await expect(page.get_by_test_id("embedding")).to_have_text(f"openai / {MODEL} · 64 dimensions")
    await expect(page.get_by_test_id("embedding-base-url")).to_have_text(endpoint.url)
    await expect(page.get_by_test_id("embedding-credential")).to_have_text("credential embedding key")
    collection_id = page.url.rsplit("/", 1)[1]
    stored = (await api(console_url, page, "GET", f"/collections/{collection_id}")).json()
    assert stored["embedding"] == {"provider": "openai", "model": MODEL, "dimensions": 64,
                                   "credential_id": credential["id"], "base_url": endpoint.url}

    # It embeds at that endpoint with that key: a text is ingested and found.
    await page.get_by_label("Document name").fill("kettle note")
    await page.get_by_label("Text", exact=True).fill("Kettles boil water in ninety seconds.")
    await page.get_by_role("button", name="Add text").click()
    await expect(page.get_by_test_id("document-kettle note").get_by_test_id("status")).to_have_text("completed")
    assert endpoint.keys and set(endpoint.keys) == {org_key}
    assert {r["model"] for r in endpoint.requests} == {MODEL}

    # Its credential deleted: the view says so.
    assert (await api(console_url, page, "DELETE", f"/credentials/{credential['id']}")).status_code == 200
    await page.reload()
    await expect(page.get_by_test_id("embedding-credential")).to_contain_text("no longer exists")


async def test_the_apis_embedding_errors_are_shown_in_the_form_and_nothing_typed_is_lost(page: Page, console_url):
    await sign_up(page)
    credential = await add_credential(console_url, page, "soon gone", "sk-gone")
    await page.goto("/#/knowledge")
    await page.get_by_label("Name", exact=True).fill("Remote")
    await page.get_by_label("Embedding provider").select_option("openai")
    await page.get_by_label("Model").fill(MODEL)
    await page.get_by_label("Dimensions").fill("64")
    await page.get_by_label("Base URL (optional)").fill("ftp://x")
    await page.get_by_label("API key credential (optional)").select_option(label="soon gone (openai)")
    await page.get_by_role("button", name="Create collection").click()

    # A refused base URL: the server's reason under the field (400), the form as typed.
    error = page.locator('.field-error[data-field="base_url"]')
    await expect(error).to_contain_text("http")
    await expect(page.get_by_role("alert").first).to_contain_text("400")
    await expect(page.get_by_label("Name", exact=True)).to_have_value("Remote")
    await expect(page.get_by_label("Model")).to_have_value(MODEL)
    await expect(page.get_by_label("Dimensions")).to_have_value("64")
    await expect(page.get_by_label("Base URL (optional)")).to_have_value("ftp://x")
    await expect(page.get_by_label("API key credential (optional)")).to_have_value(credential["id"])

    # The credential deleted meanwhile: the 404 under the credential select.
    assert (await api(console_url, page, "DELETE", f"/credentials/{credential['id']}")).status_code == 200
    await page.get_by_label("Base URL (optional)").fill("")
    await page.get_by_role("button", name="Create collection").click()
    await expect(error).to_have_count(0)
    await expect(page.locator('.field-error[data-field="credential_id"]')).to_contain_text("choose another credential")
    await expect(page.get_by_role("alert").first).to_contain_text("404")
    await expect(page.get_by_label("Model")).to_have_value(MODEL)

    # A local model: the size must be the model's, then it is created.
    await page.get_by_label("Embedding provider").select_option(label="Local model")
    await expect(page.get_by_label("API key credential (optional)")).to_have_count(0)
    await page.get_by_label("Model").fill("tiny-words")
    await expect(page.get_by_label("Dimensions")).to_have_value("16")  # the server's model: its size filled in
    await page.get_by_label("Dimensions").fill("384")
    await page.get_by_role("button", name="Create collection").click()
    await expect(page.locator('.field-error[data-field="dimensions"]')).to_contain_text("16")
    await page.get_by_label("Dimensions").fill("16")
    await page.get_by_role("button", name="Create collection").click()
    await expect(page.get_by_role("heading", name="Remote")).to_be_visible()
    await expect(page.get_by_test_id("embedding")).to_have_text("local / tiny-words · 16 dimensions")
    await expect(page.get_by_test_id("embedding-base-url")).to_have_count(0)
