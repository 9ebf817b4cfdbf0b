"""Collections and text documents through the gateway: CRUD, paging, etags, errors, roles of the caller."""


from tests.vectorstore.helpers import collection, ingested, user


async def test_collection_defaults_to_the_builtin_embedder_and_recursive_chunking(http):
    u = await user(http, "vs")
    created = await collection(http, u, "defaults", description="docs")
    assert created["embedding"] == {"provider": "builtin", "model": "hashing-v1", "dimensions": 384}
    assert created["chunking"] == {"splitter": "recursive", "chunk_size": 1000, "chunk_overlap": 200}
    got = await http.get(f"/collections/{created['id']}", headers=u)
    assert got.status_code == 200 and got.json()["name"] == "defaults"
    assert got.headers["etag"] == created["etag"]


async def test_create_refuses_bad_settings_and_duplicate_names(http):
    u = await user(http, "vs")
    await collection(http, u, "taken")
    again = await http.post("/collections", headers=u, json={"name": "taken"})
    assert again.status_code == 409
    cases = [({"name": ""}, "collection.name"),
             ({"name": "x", "embedding": {"provider": "magic"}}, "collection.embedding.provider"),
             ({"name": "x", "embedding": {"dimensions": 5000}}, "collection.embedding.dimensions"),
             ({"name": "x", "embedding": {"model": "gpt"}}, "collection.embedding.model"),
             ({"name": "x", "chunking": {"chunk_size": 10}}, "collection.chunking.chunk_size"),
             ({"name": "x", "chunking": {"chunk_size": 100, "chunk_overlap": 100}}, "collection.chunking.chunk_overlap"),
             ({"name": "x", "chunking": {"splitter": "semantic"}}, "collection.chunking.splitter")]
    for body, field in cases:
        response = await http.post("/collections", headers=u, json=body)
        assert response.status_code == 400, (body, response.text)
        assert response.json()["details"][0]["field_violations"][0]["field"] == field
    openai = await http.post("/collections", headers=u, json={"name": "o", "embedding": {"provider": "openai"}})
    assert openai.status_code == 400
    assert openai.json()["details"][0]["field_violations"][0]["field"] == "collection.embedding.model"


async def test_list_pages_newest_first_with_keyset_tokens(http):
    u = await user(http, "vs")
    names = [f"c{i}" for i in range(5)]
    for name in names:
        await collection(http, u, name)
    seen, token = [], ""
    while True:
        page = (await http.get("/collections", headers=u, params={"page_size": 2, "page_token": token})).json()
        seen += [c["name"] for c in page["collections"]]
        token = page.get("next_page_token", "")
        if not token:
            break
    assert seen == names[::-1]
    bad = await http.get("/collections", headers=u, params={"page_token": "nonsense"})
    assert bad.status_code == 400


async def test_a_cached_collection_is_not_current_once_documents_are_ingested(http):
    u = await user(http, "vs")
    c = await collection(http, u, "cached")
    unchanged = await http.get(f"/collections/{c['id']}", headers={**u, "If-None-Match": c["etag"]})
    assert unchanged.status_code == 304
    await ingested(http, u, c["id"], "some words to index")
    fresh = await http.get(f"/collections/{c['id']}", headers={**u, "If-None-Match": c["etag"]})
    assert fresh.status_code == 200 and int(fresh.json()["document_count"]) == 1 and int(fresh.json()["chunk_count"]) >= 1
    assert fresh.headers["etag"] != c["etag"]


async def test_update_with_stale_etag_is_aborted_and_chunking_change_reingests(http):
    u = await user(http, "vs")
    c = await collection(http, u, "upd", chunking={"chunk_size": 200, "chunk_overlap": 0})
    document = await ingested(http, u, c["id"], "word " * 200)
    assert document["chunk_count"] > 1
    renamed = await http.patch(f"/collections/{c['id']}", headers={**u, "If-Match": c["etag"]},
                               json={"name": "renamed"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "renamed"
    stale = await http.patch(f"/collections/{c['id']}", headers={**u, "If-Match": c["etag"]}, json={"name": "z"})
    assert stale.status_code == 409
    bigger = await http.patch(f"/collections/{c['id']}", headers=u,
                              params={"update_mask": "chunking"}, json={"chunking": {"chunk_size": 5000}})
    assert bigger.status_code == 200, bigger.text
    assert bigger.json()["chunking"]["chunk_size"] == 5000
    assert bigger.json()["embedding"]["provider"] == "builtin"
    from tests.vectorstore.helpers import wait_status

    redone = await wait_status(http, u, c["id"], document["id"])
    assert redone["status"] == "DOCUMENT_STATUS_COMPLETED" and redone["chunk_count"] == 1


async def test_delete_removes_documents_and_chunks(http):
    u = await user(http, "vs")
    c = await collection(http, u, "gone")
    document = await ingested(http, u, c["id"], "some text to keep for a while")
    stale = await http.delete(f"/collections/{c['id']}", headers={**u, "If-Match": '"99"'})
    assert stale.status_code == 409
    assert (await http.delete(f"/collections/{c['id']}", headers=u)).status_code == 200
    assert (await http.get(f"/collections/{c['id']}", headers=u)).status_code == 404
    chunks = await http.get(f"/collections/{c['id']}/documents/{document['id']}/chunks", headers=u)
    assert chunks.status_code == 404


async def test_documents_list_get_chunks_delete_and_reingest(http):
    u = await user(http, "vs")
    c = await collection(http, u, "docs", chunking={"chunk_size": 100, "chunk_overlap": 20})
    text = " ".join(f"sentence{i} is here." for i in range(60))
    document = await ingested(http, u, c["id"], text, name="notes", metadata={"team": "a"})
    assert document["name"] == "notes" and document["source_type"] == "text" and document["chunk_count"] >= 5
    chunks, token = [], ""
    while True:
        page = (await http.get(f"/collections/{c['id']}/documents/{document['id']}/chunks", headers=u,
                               params={"page_size": 2, "page_token": token})).json()
        chunks += page["chunks"]
        token = page.get("next_page_token", "")
        if not token:
            break
    assert [ch["position"] for ch in chunks] == list(range(document["chunk_count"]))
    assert all(len(ch["content"]) <= 100 for ch in chunks)
    assert chunks[0]["metadata"] == {"team": "a", "source": "notes", "position": 0}
    listed = (await http.get(f"/collections/{c['id']}/documents", headers=u,
                             params={"status": "DOCUMENT_STATUS_COMPLETED"})).json()
    assert [d["id"] for d in listed["documents"]] == [document["id"]]
    again = await http.post(f"/collections/{c['id']}/documents/{document['id']}:reingest", headers=u, json={})
    assert again.status_code == 200 and again.json()["status"] in ("DOCUMENT_STATUS_PENDING",
                                                                   "DOCUMENT_STATUS_PROCESSING")
    assert (await http.delete(f"/collections/{c['id']}/documents/{document['id']}", headers=u)).status_code == 200
    assert (await http.get(f"/collections/{c['id']}/documents/{document['id']}", headers=u)).status_code == 404
    count = (await http.get(f"/collections/{c['id']}", headers=u)).json()
    assert count.get("document_count", 0) == 0 and int(count.get("chunk_count", 0)) == 0


async def test_bad_document_requests_are_clear_errors(http):
    u = await user(http, "vs")
    c = await collection(http, u, "bad")
    cases = [({"text": ""}, 400), ({"text": "x", "content_type": "application/pdf"}, 400),
             ({"text": "x", "metadata": {"big": "y" * 20000}}, 400)]
    for body, code in cases:
        response = await http.post(f"/collections/{c['id']}/documents", headers=u, json=body)
        assert response.status_code == code, (body, response.text)
    assert (await http.get(f"/collections/{c['id']}/documents/not-an-id", headers=u)).status_code == 400
    missing = "00000000-0000-0000-0000-000000000000"
    assert (await http.post(f"/collections/{missing}/documents", headers=u, json={"text": "x"})).status_code == 404
