"""Ingestion over gRPC (client-streaming upload) and HTTP: every file type, limits, failures, URL imports,
OpenAI-compatible embeddings, and a document that survives the loss of the replica ingesting it."""

import asyncio
import http.server as http_server
import threading

import grpc
import pytest
from google.protobuf import struct_pb2

from agentic.vectorstore.v1 import vectorstore_pb2 as pb
from agentic.vectorstore.v1 import vectorstore_pb2_grpc
from services.common import outbound
from tests.conftest import vectorstore_settings
from tests.vectorstore import files
from tests.vectorstore.fake_openai import SLOW_MODEL
from tests.vectorstore.helpers import collection, ingested, user, wait_status


@pytest.fixture(scope="module")
async def documents_stub(vectorstore_service):
    channel = grpc.aio.insecure_channel(vectorstore_service.address)
    yield vectorstore_pb2_grpc.DocumentServiceStub(channel)
    await channel.close()


def metadata_of(headers: dict) -> list[tuple[str, str]]:
    return [("authorization", headers["Authorization"])]


async def upload(stub, headers: dict, collection_id: str, name: str, data: bytes, content_type: str = "",
                 piece: int = 1000, **metadata):
    async def parts():
        meta = struct_pb2.Struct()
        meta.update(metadata)
        yield pb.UploadDocumentRequest(header=pb.UploadHeader(collection_id=collection_id, name=name,
                                                              content_type=content_type, metadata=meta))
        for start in range(0, len(data), piece):
            yield pb.UploadDocumentRequest(data=data[start:start + piece])

    return await stub.UploadDocument(parts(), metadata=metadata_of(headers), timeout=10)


async def chunks_of(http, headers, collection_id: str, document_id: str) -> list[dict]:
    response = await http.get(f"/collections/{collection_id}/documents/{document_id}/chunks", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["chunks"]


@pytest.mark.parametrize("name, data, expected, metadata", [
    ("manual.pdf", files.pdf(["Pumps need oil every month", "Valves are checked yearly"]),
     ["Pumps need oil every month", "Valves are checked yearly"], [{"page": 1}, {"page": 2}]),
    ("handbook.md", files.MARKDOWN, ["Welcome", "twenty-five days", "thirty days"],
     [{"heading": "Handbook"}, {"heading": "Handbook > Holidays"}, {"heading": "Handbook > Expenses"}]),
    ("notes.html", files.HTML, ["Version 2\n\nFaster search & smaller indexes."], [{"title": "Release notes"}]),
    ("people.csv", files.CSV, ["name: Ada; city: London; language: English\nname: Linus"], [{}]),
    ("catalog.json", files.JSON, ['{"sku": "A-1", "title": "Blue kettle"}\n{"sku": "B-2"'], [{}]),
])
async def test_uploaded_files_of_every_type_are_parsed_chunked_and_embedded(http, documents_stub, name, data,
                                                                           expected, metadata):
    u = await user(http, "vs-ingest")
    c = await collection(http, u, "files", chunking={"chunk_size": 60, "chunk_overlap": 0})
    document = await upload(documents_stub, u, c["id"], name, data, piece=7, team="ops")
    assert document.status == pb.DOCUMENT_STATUS_PENDING and document.size_bytes == len(data)
    done = await wait_status(http, u, c["id"], document.id)
    assert done["status"] == "DOCUMENT_STATUS_COMPLETED", done
    chunks = await chunks_of(http, u, c["id"], document.id)
    text = "\n".join(ch["content"] for ch in chunks)
    for fragment in expected:
        assert fragment in text, (fragment, text)
    assert "do not index" not in text and "color: red" not in text
    for wanted in metadata:
        assert any(wanted.items() <= ch["metadata"].items() for ch in chunks), (wanted, chunks)
    assert all(ch["metadata"]["team"] == "ops" and ch["metadata"]["source"] == name for ch in chunks)


async def test_oversized_upload_is_refused_and_nothing_is_stored(http, documents_stub, vectorstore_service):
    u = await user(http, "vs-ingest")
    c = await collection(http, u, "big")
    limit = vectorstore_service.ingestor.settings.max_upload_bytes
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await upload(documents_stub, u, c["id"], "big.txt", b"x" * (limit + 1), piece=256 * 1024)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "larger than the upload limit" in refused.value.details()
    listed = (await http.get(f"/collections/{c['id']}/documents", headers=u)).json()
    assert listed.get("documents", []) == []


async def test_upload_protocol_and_type_errors(http, documents_stub):
    u = await user(http, "vs-ingest")
    c = await collection(http, u, "errs")

    async def data_first():
        yield pb.UploadDocumentRequest(data=b"abc")

    with pytest.raises(grpc.aio.AioRpcError) as no_header:
        await documents_stub.UploadDocument(data_first(), metadata=metadata_of(u), timeout=10)
    assert no_header.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as unknown_type:
        await upload(documents_stub, u, c["id"], "image.png", b"\x89PNG")
    assert unknown_type.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await upload(documents_stub, u, "00000000-0000-0000-0000-000000000000", "a.txt", b"abc")
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as empty:
        await upload(documents_stub, u, c["id"], "a.txt", b"")
    assert empty.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_unreadable_file_fails_with_its_reason(http, documents_stub):
    u = await user(http, "vs-ingest")
    c = await collection(http, u, "broken")
    document = await upload(documents_stub, u, c["id"], "broken.pdf", b"%PDF-1.4 this is not a pdf")
    failed = await wait_status(http, u, c["id"], document.id)
    assert failed["status"] == "DOCUMENT_STATUS_FAILED" and "PDF" in failed["error"]
    bad_json = await ingested_or_failed(http, u, c["id"], "{not json", content_type="application/json")
    assert bad_json["status"] == "DOCUMENT_STATUS_FAILED" and "JSON" in bad_json["error"]


async def ingested_or_failed(http, headers, collection_id, text, **fields):
    response = await http.post(f"/collections/{collection_id}/documents", headers=headers, json={"text": text,
                                                                                                 **fields})
    assert response.status_code == 200, response.text
    return await wait_status(http, headers, collection_id, response.json()["id"])


class _Site(http_server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/redirect-to-metadata":
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/")
            self.end_headers()
            return
        if self.path == "/missing":
            self.send_error(404)
            return
        body = b"<html><title>Kettles</title><body><p>Our kettles boil water in ninety seconds.</p></body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def local_site():
    server = http_server.ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


async def test_url_import_refuses_private_addresses(http, local_site):
    u = await user(http, "vs-url")
    c = await collection(http, u, "web")
    for url in (local_site + "/page", "http://169.254.169.254/latest/", "file:///etc/passwd", "http://10.1.2.3/"):
        refused = await http.post(f"/collections/{c['id']}/documents:import", headers=u, json={"url": url})
        assert refused.status_code == 400, (url, refused.text)
        assert refused.json()["details"][0]["field_violations"][0]["field"] == "url"


@pytest.fixture(params=["allow_private_networks", "outbound_allow"])
def private_networks_allowed(request, vectorstore_service):
    """The operator's settings on the running replica, for a local site: all private networks
    (VECTORSTORE_ALLOW_PRIVATE_NETWORKS) or the site's network (VECTORSTORE_OUTBOUND_ALLOW)."""
    documents, ingestor = vectorstore_service.documents, vectorstore_service.ingestor
    refusing = documents.outbound_policy
    allowing = (outbound.Policy(allow_private=True) if request.param == "allow_private_networks"
                else outbound.Policy.of(False, ["127.0.0.1/32"]))
    documents.outbound_policy = ingestor.outbound_policy = allowing
    yield
    documents.outbound_policy = ingestor.outbound_policy = refusing


async def test_url_import_fetches_the_page_where_private_networks_are_allowed(http, local_site,
                                                                            private_networks_allowed):
    u = await user(http, "vs-url")
    c = await collection(http, u, "web")
    response = await http.post(f"/collections/{c['id']}/documents:import", headers=u,
                               json={"url": local_site + "/page"})
    assert response.status_code == 200, response.text
    done = await wait_status(http, u, c["id"], response.json()["id"])
    assert done["status"] == "DOCUMENT_STATUS_COMPLETED" and done["source"] == local_site + "/page"
    chunks = await chunks_of(http, u, c["id"], done["id"])
    assert chunks[0]["content"] == "Our kettles boil water in ninety seconds."
    assert chunks[0]["metadata"]["title"] == "Kettles"
    # Metadata addresses stay refused even here, also behind a redirect.
    redirected = await http.post(f"/collections/{c['id']}/documents:import", headers=u,
                                 json={"url": local_site + "/redirect-to-metadata"})
    failed = await wait_status(http, u, c["id"], redirected.json()["id"])
    assert failed["status"] == "DOCUMENT_STATUS_FAILED" and "metadata" in failed["error"]
    missing = await http.post(f"/collections/{c['id']}/documents:import", headers=u,
                              json={"url": local_site + "/missing"})
    failed = await wait_status(http, u, c["id"], missing.json()["id"])
    assert failed["status"] == "DOCUMENT_STATUS_FAILED" and "answered HTTP 404" in failed["error"]


async def test_openai_compatible_embeddings_through_the_real_client(http, fake_embeddings):
    u = await user(http, "vs-openai")
    c = await collection(http, u, "openai", embedding={"provider": "openai", "model": "text-embedding-3-small",
                                                       "dimensions": 64})
    seen = len(fake_embeddings.requests)
    await ingested(http, u, c["id"], "Kettles boil water.\n\nTeapots brew tea.")
    found = await http.post(f"/collections/{c['id']}:search", headers=u,
                            json={"query": "boil water", "mode": "SEARCH_MODE_VECTOR", "top_k": 1})
    assert found.status_code == 200, found.text
    assert "Kettles" in found.json()["results"][0]["chunk"]["content"]
    requests = fake_embeddings.requests[seen:]
    assert {r["model"] for r in requests} == {"text-embedding-3-small"}
    assert all(r["authorization"] == "Bearer sk-test-key" and r["dimensions"] == 64 for r in requests)
    assert any(r["input"] == ["boil water"] for r in requests)
    broken = await collection(http, u, "broken-model", embedding={"provider": "openai", "model": "broken",
                                                                  "dimensions": 32})
    failed = await ingested_or_failed(http, u, broken["id"], "text")
    assert failed["status"] == "DOCUMENT_STATUS_FAILED" and "HTTP 400" in failed["error"]
    search = await http.post(f"/collections/{broken['id']}:search", headers=u, json={"query": "x"})
    assert search.status_code == 400


async def test_document_completes_after_the_replica_ingesting_it_is_lost(http, vectorstore_service, fake_embeddings,
                                                                         auth_service, migrated_database):
    from services.vectorstore import server as vectorstore_server

    u = await user(http, "vs-crash")
    c = await collection(http, u, "crash", embedding={"provider": "openai", "model": SLOW_MODEL, "dimensions": 32})
    fake_embeddings.release.clear()
    document = await ingested_or_processing(http, u, c["id"])
    # The replica dies mid-embedding: its worker stops without a word to the database.
    await vectorstore_service.ingestor.stop()
    fake_embeddings.release.set()
    await asyncio.sleep(0.2)
    still = (await http.get(f"/collections/{c['id']}/documents/{document['id']}", headers=u)).json()
    assert still["status"] == "DOCUMENT_STATUS_PROCESSING"
    other = await vectorstore_server.start(vectorstore_settings(
        migrated_database, auth_service.address, replica_id="vectorstore-b", openai_base_url=fake_embeddings.url,
        openai_api_key="sk-test-key"))
    try:
        done = await wait_status(http, u, c["id"], document["id"], timeout=20)
        assert done["status"] == "DOCUMENT_STATUS_COMPLETED" and done["chunk_count"] == 1
    finally:
        await other.stop(0)
        vectorstore_service.ingestor.start()


async def ingested_or_processing(http, headers, collection_id):
    response = await http.post(f"/collections/{collection_id}/documents", headers=headers,
                               json={"text": "slow to embed"})
    assert response.status_code == 200, response.text
    return await wait_status(http, headers, collection_id, response.json()["id"], wanted=("PROCESSING",))
