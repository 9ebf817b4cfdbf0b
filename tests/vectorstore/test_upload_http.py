"""Multipart uploads through the gateway, streamed into the client-streaming RPC."""

import json

from tests.vectorstore import files
from tests.vectorstore.helpers import collection, user, wait_status


async def test_multipart_upload_is_ingested(http):
    u = await user(http, "vs-upload")
    c = await collection(http, u, "uploads")
    # A generic media type (what curl -F sends for most files): the file name's extension decides.
    response = await http.post(f"/collections/{c['id']}/documents:upload", headers=u,
                               data={"name": "Manual", "metadata": json.dumps({"team": "ops"})},
                               files={"file": ("manual.pdf", files.pdf(["Pumps need oil"]),
                                               "application/octet-stream")})
    assert response.status_code == 200, response.text
    document = response.json()
    assert document["name"] == "Manual" and document["source"] == "manual.pdf"
    assert document["content_type"] == "application/pdf" and document["metadata"] == {"team": "ops"}
    done = await wait_status(http, u, c["id"], document["id"])
    assert done["status"] == "DOCUMENT_STATUS_COMPLETED"
    found = (await http.post(f"/collections/{c['id']}:search", headers=u, json={"query": "oil pumps"})).json()
    assert found["results"][0]["chunk"]["content"] == "Pumps need oil"
    assert found["results"][0]["chunk"]["metadata"]["page"] == 1


async def test_streamed_upload_without_content_length(http):
    u = await user(http, "vs-upload")
    c = await collection(http, u, "chunked")
    boundary = "b0undary"
    body = [f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"n.md\"\r\n"
            "Content-Type: text/markdown\r\n\r\n".encode(), files.MARKDOWN, f"\r\n--{boundary}--\r\n".encode()]

    async def pieces():
        for piece in body:
            yield piece

    response = await http.post(f"/collections/{c['id']}/documents:upload", content=pieces(),
                               headers={**u, "Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "n.md" and int(response.json()["size_bytes"]) == len(files.MARKDOWN)


async def test_oversized_upload_is_413_and_nothing_is_stored(http, vectorstore_service):
    u = await user(http, "vs-upload")
    c = await collection(http, u, "too-big")
    size = vectorstore_service.ingestor.settings.max_upload_bytes + 1
    response = await http.post(f"/collections/{c['id']}/documents:upload", headers=u,
                               files={"file": ("big.txt", b"a" * size, "text/plain")})
    assert response.status_code == 413, response.text
    assert "upload limit" in response.json()["message"]
    assert (await http.get(f"/collections/{c['id']}/documents", headers=u)).json().get("documents", []) == []


async def test_bad_uploads_are_clear_errors(http):
    u = await user(http, "vs-upload")
    c = await collection(http, u, "bad-uploads")
    path = f"/collections/{c['id']}/documents:upload"
    not_multipart = await http.post(path, headers=u, json={"file": "x"})
    assert not_multipart.status_code == 400 and "multipart" in not_multipart.json()["message"]
    no_file = await http.post(path, headers=u, files={"name": (None, "only a name")})
    assert no_file.status_code == 400 and "file" in no_file.json()["message"]
    bad_metadata = await http.post(path, headers=u, data={"metadata": "[1, 2]"},
                                   files={"file": ("a.txt", b"text", "text/plain")})
    assert bad_metadata.status_code == 400 and "JSON object" in bad_metadata.json()["message"]
    image = await http.post(path, headers=u, files={"file": ("a.png", b"\x89PNG", "image/png")})
    assert image.status_code == 400
    stranger = await user(http, "vs-upload")
    other = await http.post(path, headers=stranger, files={"file": ("a.txt", b"text", "text/plain")})
    assert other.status_code == 404
    anonymous = await http.post(path, files={"file": ("a.txt", b"text", "text/plain")})
    assert anonymous.status_code == 401
    assert (await http.get(f"/collections/{c['id']}/documents", headers=u)).json().get("documents", []) == []
