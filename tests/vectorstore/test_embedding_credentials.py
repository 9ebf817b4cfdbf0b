"""A collection's own OpenAI-compatible endpoint with its organization's credential as the key: through the
gateway, the real `openai` client against a local fake server that accepts only that key."""

import uuid

import pytest
from sqlalchemy import text

from services.common import outbound
from tests.vectorstore.fake_openai import serve
from tests.vectorstore.helpers import add_text, collection, ingested, user, wait_status

MODEL = "text-embedding-3-small"
KETTLES = "Kettles boil water in ninety seconds.\n\nTeapots brew green tea slowly."


@pytest.fixture
def org_key():
    return f"sk-org-{uuid.uuid4().hex}"


@pytest.fixture
def endpoint(org_key):
    """A model server on loopback that answers only to `org_key`."""
    server = serve(required_key=org_key)
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def loopback_allowed(vectorstore_service):
    """The operator allows the model server's network (VECTORSTORE_OUTBOUND_ALLOW=["127.0.0.1/32"]) and the
    cache keeps secrets its usual minute; both restored afterwards."""
    embedders = vectorstore_service.embedders
    policy, ttl = embedders.outbound_policy, embedders.secrets.ttl
    embedders.outbound_policy, embedders.secrets.ttl = outbound.Policy.of(False, ["127.0.0.1/32"]), 60.0
    yield embedders
    embedders.outbound_policy, embedders.secrets.ttl = policy, ttl


async def credential(http, headers, secret: str, name: str = "embeddings") -> dict:
    response = await http.post("/credentials", headers=headers, json={
        "credential": {"name": name, "service_type": "openai"}, "secret": secret})
    assert response.status_code == 200, response.text
    return response.json()


def embedding(credential_id: str, base_url: str, **fields) -> dict:
    return {"provider": "openai", "model": MODEL, "dimensions": 64, "credential_id": credential_id,
            "base_url": base_url, **fields}


async def resolutions(auth_service, org_id: str) -> list[tuple]:
    async with auth_service.engine.connect() as conn:
        rows = await conn.execute(text("SELECT service, credential_id::text, execution_id FROM "
                                       "auth.credential_resolutions WHERE org_id = :org"), {"org": org_id})
        return [tuple(row) for row in rows]


async def test_collection_embeds_with_its_organizations_credential(http, endpoint, org_key, loopback_allowed,
                                                                    auth_service):
    u = await user(http, "vs-cred")
    cred = await credential(http, u, org_key)
    c = await collection(http, u, "own-key", embedding=embedding(cred["id"], endpoint.url))
    assert c["embedding"] == embedding(cred["id"], endpoint.url)
    done = await ingested(http, u, c["id"], KETTLES)
    assert done["chunk_count"] == 1 or done["chunk_count"] == 2
    found = await http.post(f"/collections/{c['id']}:search", headers=u,
                            json={"query": "boil water", "mode": "SEARCH_MODE_VECTOR", "top_k": 1})
    assert found.status_code == 200, found.text
    assert "Kettles" in found.json()["results"][0]["chunk"]["content"]
    # The model server saw the credential's secret and nothing else (never the operator's key).
    assert endpoint.keys and set(endpoint.keys) == {org_key}
    assert {r["model"] for r in endpoint.requests} == {MODEL}
    assert any(r["input"] == ["boil water"] for r in endpoint.requests)
    # The secret is never returned.
    bodies = [found.text]
    for path in (f"/collections/{c['id']}", "/collections", f"/collections/{c['id']}/documents",
                 f"/collections/{c['id']}/documents/{done['id']}", f"/credentials/{cred['id']}"):
        response = await http.get(path, headers=u)
        assert response.status_code == 200, response.text
        bodies.append(response.text)
    assert all(org_key not in body for body in bodies)
    # Resolved once with the vectorstore's identity, outside any execution: the check at creation filled the
    # cache that ingestion and search then used.
    org_id = c["organization_id"]
    assert await resolutions(auth_service, org_id) == [("service:vectorstore", cred["id"], None)]


async def test_another_organizations_credential_or_a_bad_base_url_is_refused(http, endpoint, org_key,
                                                                             loopback_allowed):
    a, b = await user(http, "vs-cred-a"), await user(http, "vs-cred-b")
    theirs = await credential(http, b, org_key)
    refused = await http.post("/collections", headers=a, json={
        "name": "stolen", "embedding": embedding(theirs["id"], endpoint.url)})
    assert refused.status_code == 404, refused.text
    assert theirs["id"] in refused.json()["message"] and "credential" in refused.json()["message"]
    assert org_key not in refused.text
    assert (await http.get("/collections", headers=a)).json().get("collections", []) == []
    cases = [
        (embedding("not-an-id", endpoint.url), "collection.embedding.credential_id"),
        (embedding("", "ftp://models.example.com/v1"), "collection.embedding.base_url"),
        (embedding("", "http://169.254.169.254/v1"), "collection.embedding.base_url"),
        (embedding("", "http://10.1.2.3/v1"), "collection.embedding.base_url"),
        ({"provider": "builtin", "credential_id": theirs["id"]}, "collection.embedding.credential_id"),
    ]
    for config, field in cases:
        response = await http.post("/collections", headers=a, json={"name": "bad", "embedding": config})
        assert response.status_code == 400, (config, response.text)
        assert response.json()["details"][0]["field_violations"][0]["field"] == field
    # An update to another organization's credential changes nothing.
    mine = await credential(http, a, "sk-a-own-secret")
    c = await collection(http, a, "mine", embedding=embedding(mine["id"], endpoint.url))
    update = await http.patch(f"/collections/{c['id']}", headers=a, params={"update_mask": "embedding.credential_id"},
                              json={"embedding": {"credential_id": theirs["id"]}})
    assert update.status_code == 404, update.text
    after = (await http.get(f"/collections/{c['id']}", headers=a)).json()
    assert after["embedding"]["credential_id"] == mine["id"] and after["etag"] == c["etag"]


async def test_loopback_base_url_is_refused_unless_the_operator_allows_it(http, endpoint):
    u = await user(http, "vs-cred-lo")
    response = await http.post("/collections", headers=u, json={"name": "lo", "embedding": embedding("", endpoint.url)})
    assert response.status_code == 400, response.text
    violation = response.json()["details"][0]["field_violations"][0]
    assert violation["field"] == "collection.embedding.base_url" and "loopback" in violation["description"]


async def test_operator_key_never_goes_to_a_collections_base_url(http, endpoint, loopback_allowed):
    u = await user(http, "vs-cred-nokey")
    c = await collection(http, u, "no-key", embedding=embedding("", endpoint.url))
    document = await add_text(http, u, c["id"], KETTLES)
    failed = await wait_status(http, u, c["id"], document["id"])
    assert failed["status"] == "DOCUMENT_STATUS_FAILED" and "HTTP 401" in failed["error"], failed
    assert endpoint.keys and "sk-test-key" not in endpoint.keys


async def test_deleted_credential_fails_search_and_ingestion_clearly(http, endpoint, org_key, loopback_allowed):
    u = await user(http, "vs-cred-del")
    cred = await credential(http, u, org_key)
    c = await collection(http, u, "deleted", embedding=embedding(cred["id"], endpoint.url))
    await ingested(http, u, c["id"], KETTLES)
    assert (await http.delete(f"/credentials/{cred['id']}", headers=u)).status_code == 200
    loopback_allowed.secrets.ttl = 0  # the minute a resolved secret is kept has passed
    search = await http.post(f"/collections/{c['id']}:search", headers=u,
                             json={"query": "boil water", "mode": "SEARCH_MODE_VECTOR"})
    assert search.status_code == 400, search.text
    assert search.json()["code"] == "FAILED_PRECONDITION" or "FAILED_PRECONDITION" in search.text
    assert cred["id"] in search.json()["message"] and "no longer exists" in search.json()["message"]
    # Keyword search needs no model and still works.
    keyword = await http.post(f"/collections/{c['id']}:search", headers=u,
                              json={"query": "kettles", "mode": "SEARCH_MODE_KEYWORD"})
    assert keyword.status_code == 200 and keyword.json()["results"], keyword.text
    document = await add_text(http, u, c["id"], "Another page about teapots.")
    failed = await wait_status(http, u, c["id"], document["id"])
    assert failed["status"] == "DOCUMENT_STATUS_FAILED", failed
    assert cred["id"] in failed["error"] and "no longer exists" in failed["error"]


async def test_changing_the_credential_keeps_the_chunks_and_another_base_url_reingests(http, endpoint, org_key,
                                                                                        loopback_allowed):
    u = await user(http, "vs-cred-rotate")
    first, second = await credential(http, u, org_key, "first"), await credential(http, u, org_key, "second")
    c = await collection(http, u, "rotate", embedding=embedding(first["id"], endpoint.url))
    done = await ingested(http, u, c["id"], KETTLES)
    path = f"/collections/{c['id']}/documents/{done['id']}"
    # Another key for the same endpoint gives the same vectors: nothing is embedded again.
    rotated = await http.patch(f"/collections/{c['id']}", headers=u, params={"update_mask": "embedding.credential_id"},
                               json={"embedding": {"credential_id": second["id"]}})
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["embedding"] == embedding(second["id"], endpoint.url)
    assert (await http.get(path, headers=u)).json() == done
    # Without a credential the collection's endpoint gets no key at all (the fake server then refuses).
    cleared = await http.patch(f"/collections/{c['id']}", headers=u, params={"update_mask": "embedding.credential_id"},
                               json={"embedding": {}})
    assert cleared.status_code == 200 and "credential_id" not in cleared.json()["embedding"], cleared.text
    search = await http.post(f"/collections/{c['id']}:search", headers=u,
                             json={"query": "boil water", "mode": "SEARCH_MODE_VECTOR"})
    assert search.status_code == 400 and "HTTP 401" in search.json()["message"], search.text
    # Another endpoint may serve another model under the same name: the documents are embedded again.
    moved = await http.patch(f"/collections/{c['id']}", headers=u, params={"update_mask": "embedding"}, json={
        "embedding": {"credential_id": first["id"], "base_url": endpoint.url.replace("/v1", "/v2")}})
    assert moved.status_code == 200, moved.text
    again = await wait_status(http, u, c["id"], done["id"])
    assert again["status"] == "DOCUMENT_STATUS_COMPLETED" and again["update_time"] > done["update_time"], again
