"""Runs of another organization's public workflow: the executor runs the graph as that organization reads it
(the workflow service removes inline secrets from it), never the owner's, whoever ran it first."""

import base64
import json
import uuid

import asyncpg
import httpx
import pytest

from tests.conftest import as_service
from tests.executor.helpers import background, create_workflow, linear, run, user

SECRET = "sk-owner-inline-7f3a"


@pytest.fixture
async def http(gateway_url):
    async with httpx.AsyncClient(base_url=f"{gateway_url}/api/v1", timeout=30) as client:
        yield client


def organization(headers: dict) -> uuid.UUID:
    """The organization an access token is scoped to (its `org` claim)."""
    claims = headers["Authorization"].removeprefix("Bearer ").split(".")[1]
    return uuid.UUID(json.loads(base64.urlsafe_b64decode(claims + "=="))["org"])



async def test_each_organization_runs_its_own_view_of_a_public_workflow(http, executor_service, migrated_database):
    owner, other = await user(http, "pub-owner"), await user(http, "pub-other")
    wf = await create_workflow(http, owner, linear(("t", "template", {"template": "Hi {{ input }}", "api_key": SECRET})))
    shared = await http.patch(f"/workflows/{wf}", headers=owner, params={"update_mask": "is_public"},
                              json={"is_public": True})
    assert shared.status_code == 200, shared.text
    # The owner first (its graph compiled and kept here), then the other organization, in the foreground and in
    # the background (a pinned copy stored for it), then the owner again.
    for who in (owner, other):
        assert (await run(http, who, wf, "x"))["status"] == "EXECUTION_STATUS_SUCCEEDED"
        assert (await background(http, who, wf, "x"))["status"] == "EXECUTION_STATUS_SUCCEEDED"
    assert (await run(http, owner, wf, "x"))["output"] == "Hi x"

    owner_org, other_org = organization(owner), organization(other)
    compiled = executor_service.executions.graphs
    assert SECRET in str(compiled.get((owner_org, uuid.UUID(wf), 1, False)).flow)
    assert SECRET not in str(compiled.get((other_org, uuid.UUID(wf), 1, False)).flow)
    connection = await asyncpg.connect(as_service(migrated_database, "executor").replace("postgresql+asyncpg://",
                                                                                         "postgresql://"))
    try:
        stored = {row["org_id"]: row["flow_data"] for row in await connection.fetch(
            "SELECT org_id, flow_data FROM executor.graphs WHERE workflow_id = $1", uuid.UUID(wf))}
    finally:
        await connection.close()
    assert set(stored) == {owner_org, other_org}
    assert SECRET in stored[owner_org] and SECRET not in stored[other_org]
