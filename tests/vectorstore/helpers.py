"""Helpers for vectorstore tests: users, collections and documents over HTTP, waiting for ingestion."""

import asyncio
import time

import httpx

from tests.executor.helpers import user

__all__ = ["user", "collection", "add_text", "wait_status", "ingested"]


async def collection(http: httpx.AsyncClient, headers: dict, name: str = "kb", **fields) -> dict:
    response = await http.post("/collections", headers=headers, json={"name": name, **fields})
    assert response.status_code == 200, response.text
    return response.json()


async def add_text(http, headers, collection_id: str, text: str, **fields) -> dict:
    response = await http.post(f"/collections/{collection_id}/documents", headers=headers,
                               json={"text": text, **fields})
    assert response.status_code == 200, response.text
    return response.json()


async def wait_status(http, headers, collection_id: str, document_id: str, wanted=("COMPLETED", "FAILED"),
                      timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        response = await http.get(f"/collections/{collection_id}/documents/{document_id}", headers=headers)
        assert response.status_code == 200, response.text
        document = response.json()
        if document["status"].removeprefix("DOCUMENT_STATUS_") in wanted:
            return document
        assert time.monotonic() < deadline, f"document still {document['status']}"
        await asyncio.sleep(0.05)


async def ingested(http, headers, collection_id: str, text: str, **fields) -> dict:
    """Adds a text document and waits until it is completed."""
    document = await add_text(http, headers, collection_id, text, **fields)
    done = await wait_status(http, headers, collection_id, document["id"])
    assert done["status"] == "DOCUMENT_STATUS_COMPLETED", done
    return done
