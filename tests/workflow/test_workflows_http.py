"""Workflows through the gateway over HTTP, as the web console and scripts use them."""

import asyncio
import uuid

import httpx
import pytest

from tests.workflow.helpers import graph

PASSWORD = "correct horse battery"


@pytest.fixture
async def http(gateway_url):
    async with httpx.AsyncClient(base_url=f"{gateway_url}/api/v1", timeout=20) as client:
        yield client


async def user(http, tag: str) -> dict:
    response = await http.post("/auth/signup", json={"email": f"{tag}-{uuid.uuid4().hex[:8]}@example.com",
                                                     "password": PASSWORD})
    session = response.json()
    return {"Authorization": f"Bearer {session['access_token']}", "_session": session}


def h(u: dict) -> dict:
    return {k: v for k, v in u.items() if not k.startswith("_")}


async def test_crud_versions_and_etag_headers(http):
    u = await user(http, "http-wf")
    created = await http.post("/workflows", headers=h(u), json={"name": "Flow", "tags": ["x"], "flow_data": graph()})
    assert created.status_code == 200, created.text
    wf = created.json()
    assert created.headers["etag"] == wf["etag"] and wf["version"] == 1
    assert wf["flow_data"]["nodes"][0]["position"] == {"x": 0, "y": 0}  # integers stay integers
    path = f"/workflows/{wf['id']}"
    got = await http.get(path, headers=h(u))
    assert got.json()["name"] == "Flow" and got.headers["etag"] == wf["etag"]

    patched = await http.patch(f"{path}?update_mask=flow_data&version_message=v2", headers={**h(u), "If-Match": wf["etag"]},
                               json={"flow_data": graph(model="v2")})
    assert patched.status_code == 200 and patched.json()["version"] == 2
    stale = await http.patch(f"{path}?update_mask=name", headers={**h(u), "If-Match": wf["etag"]}, json={"name": "late"})
    assert stale.status_code == 409 and stale.json()["status"] == "ABORTED"

    versions = (await http.get(f"{path}/versions", headers=h(u))).json()["versions"]
    assert [v["version"] for v in versions] == [2, 1] and versions[0]["message"] == "v2"
    changes = (await http.get(f"{path}/versions/2:diff", headers=h(u))).json()
    assert changes["other_version"] == 1 and changes["nodes_changed"] == ["chat"] and changes["nodes_added"] == []
    assert (await http.get(f"{path}/versions/2:diff?other_version=7", headers=h(u))).status_code == 404
    v1 = await http.get(f"{path}/versions/1", headers=h(u))
    assert v1.json()["flow_data"] == graph()
    restored = await http.post(f"{path}/versions/1:restore", headers=h(u), json={})
    assert restored.status_code == 200 and restored.json()["version"] == 3

    listed = (await http.get("/workflows?tag=x&page_size=10", headers=h(u))).json()
    assert [w["id"] for w in listed["workflows"]] == [wf["id"]]
    assert (await http.delete(path, headers=h(u))).status_code == 200
    assert (await http.get(path, headers=h(u))).status_code == 404
    assert (await http.post(f"{path}:undelete", headers=h(u), json={})).status_code == 200


async def test_incomplete_draft_is_saved_with_warnings_over_http(http):
    u = await user(http, "http-wf-draft")
    draft = {"nodes": [{"id": "start", "type": "start"}, {"id": "s2", "type": "start"}, {"id": "llm", "type": "chat_model"}],
             "edges": [{"id": "e1", "source": "start", "target": "llm"}, {"id": "e2", "source": "s2", "target": "llm"}]}
    response = await http.post("/workflows", headers=h(u), json={"name": "draft", "flow_data": draft})
    assert response.status_code == 200, response.text
    saved = response.json()
    assert saved["flow_data"] == draft and saved["version"] == 1
    assert {"flow_data.nodes: needs exactly one start node; found 2", "flow_data.nodes: needs at least one end node",
            "flow_data.nodes[llm].data.model: is required for a chat_model node"} <= set(saved["warnings"])
    patched = await http.patch(f"/workflows/{saved['id']}?update_mask=flow_data", headers=h(u),
                               json={"flow_data": {**draft, "edges": []}})
    assert patched.status_code == 200 and patched.json()["version"] == 2
    assert "flow_data.nodes[llm]: is not connected to any other node" in patched.json()["warnings"]
    check = (await http.post(f"/workflows/{saved['id']}:validate", headers=h(u), json={})).json()
    assert check["valid"] is False and "flow_data.nodes[llm].data.model" in {v["field"] for v in check["violations"]}


async def test_malformed_graph_is_still_refused_over_http(http):
    u = await user(http, "http-wf-bad")
    response = await http.post("/workflows", headers=h(u), json={"name": "bad", "flow_data": {
        "nodes": [{"id": "start", "type": "start"}, {"id": "start", "type": "end"}, {"id": "llm", "type": "chat_model"}],
        "edges": [{"id": "e9", "source": "llm", "target": "void"}]}})
    assert response.status_code == 400
    fields = {v["field"] for v in response.json()["details"][0]["field_violations"]}
    assert fields == {"workflow.flow_data.nodes[start].id", "workflow.flow_data.edges[e9].target"}
    not_lists = await http.post("/workflows", headers=h(u), json={"name": "bad", "flow_data": {"nodes": {}}})
    assert not_lists.status_code == 400 and "list of nodes" in not_lists.text
    check = await http.post("/workflows:validate", headers=h(u), json={"flow_data": graph()})
    assert check.status_code == 200 and check.json()["valid"] is True
    saved = (await http.post("/workflows", headers=h(u), json={"name": "ok", "flow_data": graph()})).json()
    by_id = await http.post(f"/workflows/{saved['id']}:validate", headers=h(u), json={})
    assert by_id.json()["valid"] is True and by_id.json()["warnings"] == []  # checked by the executor's catalog


async def test_oversized_graph_is_rejected_clearly(http):
    u = await user(http, "http-wf-big")
    nodes = [{"id": "s", "type": "start"}, *[{"id": f"n{i}", "type": "merge"} for i in range(60)], {"id": "e", "type": "end"}]
    response = await http.post("/workflows", headers=h(u), json={"name": "big", "flow_data": {"nodes": nodes, "edges": []}})
    assert response.status_code == 400 and "limit is 50" in response.text


async def test_templates_export_import_over_http(http):
    a, b = await user(http, "http-tpl-a"), await user(http, "http-tpl-b")
    templates = (await http.get("/templates", headers=h(a))).json()["templates"]
    assert len([t for t in templates if t["builtin"]]) >= 6
    made = await http.post("/templates/builtin:rag-qa:instantiate", headers=h(a), json={"name": "My RAG"})
    assert made.status_code == 200 and made.json()["name"] == "My RAG"
    exported = await http.get(f"/workflows/{made.json()['id']}:export?include_versions=true", headers=h(a))
    document = exported.json()
    assert document["format"] == "agentic.workflow/v1" and document["credentials"]
    # export | import: the body is the exported document as is; the rest are query parameters
    imported = await http.post("/workflows:import", headers=h(b), params={"name": "Copied"}, json=document)
    assert imported.status_code == 200 and imported.json()["organization_id"] == b["_session"]["organization_id"]
    assert imported.json()["flow_data"] == made.json()["flow_data"]
    reference = document["credentials"][0]
    rebound = await http.post("/workflows:import", headers=h(b), json=document, params={
        f"credential_bindings[{reference['service_type']}/{reference['name']}]": "our-own-key"})
    nodes = {n["id"]: n for n in rebound.json()["flow_data"]["nodes"]}
    assert rebound.status_code == 200 and nodes[reference["node_id"]]["data"]["credential"]["name"] == "our-own-key"


async def test_tenant_isolation_matrix_over_http(http):
    a, b = await user(http, "http-iso-a"), await user(http, "http-iso-b")
    wf = (await http.post("/workflows", headers=h(b), json={"name": "b", "flow_data": graph()})).json()
    template = (await http.post("/templates", headers=h(b), json={"workflow_id": wf["id"], "name": "t"})).json()
    wid, tid = wf["id"], template["id"]
    for method, path, body in (
        ("GET", f"/workflows/{wid}", None),
        ("PATCH", f"/workflows/{wid}?update_mask=name", {"name": "x"}),
        ("DELETE", f"/workflows/{wid}", None),
        ("POST", f"/workflows/{wid}:undelete", {}),
        ("GET", f"/workflows/{wid}/versions", None),
        ("GET", f"/workflows/{wid}/versions/1", None),
        ("GET", f"/workflows/{wid}/versions/1:diff", None),
        ("POST", f"/workflows/{wid}/versions/1:restore", {}),
        ("POST", f"/workflows/{wid}:validate", {}),
        ("GET", f"/workflows/{wid}:export", None),
        ("GET", f"/templates/{tid}", None),
        ("DELETE", f"/templates/{tid}", None),
        ("POST", f"/templates/{tid}:instantiate", {}),
        ("POST", "/templates", {"workflow_id": wid}),
    ):
        response = await http.request(method, path, headers=h(a), json=body)
        assert response.status_code == 404, (method, path, response.status_code, response.text)
    assert (await http.get(f"/workflows/{wid}", headers=h(b))).status_code == 200


async def test_api_key_reads_and_writes_workflows(http):
    owner = await user(http, "http-wf-key")
    key = (await http.post("/api-keys", headers=h(owner), json={"name": "ci", "role": "member"})).json()["key"]
    made = await http.post("/workflows", headers={"X-API-Key": key}, json={"name": "by key", "flow_data": graph()})
    assert made.status_code == 200 and made.json()["owner_id"].startswith("apikey:")
    results = await asyncio.gather(*(http.get(f"/workflows/{made.json()['id']}", headers={"X-API-Key": key})
                                     for _ in range(10)))
    assert {r.status_code for r in results} == {200}


async def _eventually_status(http, path: str, headers: dict, status: int, within: float = 8.0) -> int:
    """Poll until `path` answers `status` (or the deadline passes); returns the last status seen."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        seen = (await http.get(path, headers=headers)).status_code
        if seen == status or asyncio.get_running_loop().time() > deadline:
            return seen
        await asyncio.sleep(0.2)


async def test_sign_out_and_key_revocation_reach_the_workflow_service(http):
    u = await user(http, "http-wf-revoke")
    wf = (await http.post("/workflows", headers=h(u), json={"name": "r", "flow_data": graph()})).json()
    key = (await http.post("/api-keys", headers=h(u), json={"name": "k"})).json()
    path = f"/workflows/{wf['id']}"
    assert (await http.get(path, headers={"X-API-Key": key["key"]})).status_code == 200  # token now cached
    assert (await http.delete(f"/api-keys/{key['api_key']['id']}", headers=h(u))).status_code == 200
    assert await _eventually_status(http, path, {"X-API-Key": key["key"]}, 401) == 401
    assert (await http.post("/auth/signout", headers=h(u), json={})).status_code == 200
    assert await _eventually_status(http, path, h(u), 401) == 401


async def member(http, owner: dict, role: str, tag: str) -> dict:
    """A new user added to owner's organization with `role` and signed in there, as HTTP headers."""
    joined = await user(http, tag)
    org_id = owner["_session"]["organization_id"]
    added = await http.post(f"/organizations/{org_id}/members", headers=h(owner),
                            json={"email": joined["_session"]["user"]["email"], "role": role})
    assert added.status_code == 200, added.text
    switched = await http.post("/auth/session:switchOrganization", headers=h(joined), json={"organization_id": org_id})
    assert switched.status_code == 200, switched.text
    return {"Authorization": f"Bearer {switched.json()['access_token']}", "_session": switched.json()}


async def test_errors_map_to_http_statuses(http):
    owner = await user(http, "http-wf-err")
    viewer = await member(http, owner, "viewer", "http-wf-viewer")
    wf = (await http.post("/workflows", headers=h(owner), json={"name": "e", "flow_data": graph()})).json()
    path = f"/workflows/{wf['id']}"
    assert (await http.get(path)).status_code == 401
    assert (await http.get(path, headers={"Authorization": "Bearer not.a.token"})).status_code == 401
    assert (await http.get(path, headers=h(viewer))).status_code == 200  # viewers read
    assert (await http.get(f"{path}/versions", headers=h(viewer))).status_code == 200
    for method, route, body in (("POST", "/workflows", {"name": "v", "flow_data": graph()}),
                                ("PATCH", f"{path}?update_mask=name", {"name": "v"}),
                                ("DELETE", path, None),
                                ("POST", f"{path}/versions/1:restore", {})):
        response = await http.request(method, route, headers=h(viewer), json=body)
        assert response.status_code == 403, (method, route, response.text)
    assert (await http.get("/workflows/not-an-id", headers=h(owner))).status_code == 400
    assert (await http.get(f"{path}/versions/7", headers=h(owner))).status_code == 404
    assert (await http.patch(f"{path}?update_mask=owner_id", headers=h(owner), json={"owner_id": "x"})).status_code == 400
    assert (await http.get("/workflows?page_token=garbage", headers=h(owner))).status_code == 400
    stale = await http.delete(path, headers={**h(owner), "If-Match": '"999"'})
    assert stale.status_code == 409 and stale.json()["status"] == "ABORTED"
    assert (await http.delete(path, headers={**h(owner), "If-Match": wf["etag"]})).status_code == 200
    assert (await http.delete(path, headers=h(owner))).status_code == 404  # already deleted
    assert (await http.post(f"{path}:undelete", headers=h(owner), json={})).status_code == 200
    assert (await http.post(f"{path}:undelete", headers=h(owner), json={})).status_code == 404  # not deleted


async def test_concurrent_patches_with_one_etag_have_one_winner_over_http(http):
    u = await user(http, "http-wf-race")
    wf = (await http.post("/workflows", headers=h(u), json={"name": "race", "flow_data": graph()})).json()
    results = await asyncio.gather(*(
        http.patch(f"/workflows/{wf['id']}?update_mask=flow_data", headers={**h(u), "If-Match": wf["etag"]},
                   json={"flow_data": graph(model=f"m{i}")}) for i in range(5)))
    assert sorted(r.status_code for r in results) == [200, 409, 409, 409, 409]
    winner = next(r for r in results if r.status_code == 200)
    assert winner.headers["etag"] == winner.json()["etag"] != wf["etag"] and winner.json()["version"] == 2


async def test_templates_get_list_by_category_and_delete_over_http(http):
    u = await user(http, "http-tpl")
    simple = await http.get("/templates/builtin:simple-chat", headers=h(u))
    assert simple.status_code == 200 and simple.json()["builtin"] is True
    wf = (await http.post("/workflows", headers=h(u), json={"name": "mine", "flow_data": graph()})).json()
    saved = await http.post("/templates", headers=h(u), json={"workflow_id": wf["id"], "name": "Ours", "category": "ours"})
    assert saved.status_code == 200 and saved.json()["builtin"] is False
    listed = (await http.get("/templates?category=ours", headers=h(u))).json()["templates"]
    assert [t["id"] for t in listed] == [saved.json()["id"]]
    assert (await http.delete("/templates/builtin:simple-chat", headers=h(u))).status_code == 400
    assert (await http.delete(f"/templates/{saved.json()['id']}", headers=h(u))).status_code == 200
    assert (await http.get(f"/templates/{saved.json()['id']}", headers=h(u))).status_code == 404


async def test_reads_recover_when_the_server_drops_the_pooled_connections(http, migrated_database):
    """PostgreSQL restarted or an idle timeout: the workflow service's pooled connections are gone. Each dead one
    fails at most one read (503, worth a retry) and leaves the pool; reads then succeed again."""
    import asyncpg

    u = await user(http, "http-wf-drop")
    created = await http.post("/workflows", headers=h(u), json={"name": "Flow", "flow_data": graph()})
    path = f"/workflows/{created.json()['id']}"
    await asyncio.gather(*(http.get(path, headers=h(u)) for _ in range(8)))  # several pooled connections
    admin = await asyncpg.connect(migrated_database.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        dropped = await admin.fetchval("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                       "WHERE usename = 'agentic_workflow'")
    finally:
        await admin.close()
    assert dropped >= 1
    statuses = []
    while statuses[-10:] != [200] * 10 and len(statuses) < 60:  # at most one failure per pooled connection
        statuses.append((await http.get(path, headers=h(u))).status_code)
    assert set(statuses) <= {200, 503} and statuses[-10:] == [200] * 10, statuses
