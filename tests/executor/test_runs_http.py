"""Running workflows through the gateway: JSON results, SSE streams, background runs and reconnects."""


import httpx
import pytest

from tests.executor.helpers import create_workflow, linear, run, sse_events, user


@pytest.fixture
async def http(gateway_url):
    async with httpx.AsyncClient(base_url=f"{gateway_url}/api/v1", timeout=30) as client:
        yield client


async def test_template_workflow_runs_to_completion_with_json_result(http):
    u = await user(http)
    wf = await create_workflow(http, u, linear(("greet", "template", {"template": "Hello, {{ input }}!"})))
    execution = await run(http, u, wf, "Ada")
    assert execution["status"] == "EXECUTION_STATUS_SUCCEEDED", execution
    assert execution["output"] == "Hello, Ada!"
    assert execution["workflow_version"] == 1 and execution["last_seq"] >= 7


async def test_a_run_right_after_an_update_runs_the_new_version(http):
    # The executor keeps compiled graphs and asks the workflow service for the graph only when the current
    # version changed: repeated runs, then an update, then runs again.
    u = await user(http)
    wf = await create_workflow(http, u, linear(("greet", "template", {"template": "Hello, {{ input }}!"})))
    for _ in range(2):
        assert (await run(http, u, wf, "Ada"))["output"] == "Hello, Ada!"
    updated = await http.patch(f"/workflows/{wf}", headers=u, json={
        "flow_data": linear(("greet", "template", {"template": "Bye, {{ input }}."}))})
    assert updated.status_code == 200 and updated.json()["version"] == 2, updated.text
    for _ in range(2):
        execution = await run(http, u, wf, "Ada")
        assert execution["output"] == "Bye, Ada." and execution["workflow_version"] == 2
    pinned = await run(http, u, wf, "Ada", version=1)
    assert pinned["output"] == "Hello, Ada!" and pinned["workflow_version"] == 1


async def test_a_finished_run_has_every_event_stored_in_order_and_its_row_agrees(http):
    # Read back from the table (not from the replica's memory) once the run has answered.
    u = await user(http)
    wf = await create_workflow(http, u, linear(("chat", "chat_model", {"model": "offline-echo"})))
    execution = await run(http, u, wf, "a b c d")
    stored = await sse_events(http, "GET", f"/executions/{execution['id']}/events", u)
    assert [int(e["id"]) for e in stored] == list(range(1, len(stored) + 1))
    assert stored[-1]["event"] == "run_completed" and [e["event"] for e in stored].count("run_completed") == 1
    assert stored[-1]["data"]["payload"]["output"] == execution["output"] == "Echo: a b c d"
    again = (await http.get(f"/executions/{execution['id']}", headers=u)).json()
    assert again["status"] == "EXECUTION_STATUS_SUCCEEDED" and again["last_seq"] == len(stored) == execution["last_seq"]


async def test_stream_sends_every_event_in_order_and_ends_after_the_terminal_one(http):
    u = await user(http)
    wf = await create_workflow(http, u, linear(("chat", "chat_model", {"model": "offline-echo"})))
    events = await sse_events(http, "POST", f"/workflows/{wf}:stream", u, {"input": "one two three"})
    kinds = [e["event"] for e in events]
    assert kinds[0] == "run_started" and kinds[-1] == "run_completed"
    assert [int(e["id"]) for e in events] == list(range(1, len(events) + 1))
    tokens = "".join(e["data"]["payload"]["text"] for e in events if e["event"] == "token")
    assert tokens == "Echo: one two three"
    assert events[-1]["data"]["payload"]["output"] == "Echo: one two three"


def status(execution: dict) -> str:
    return execution["status"].removeprefix("EXECUTION_STATUS_")


async def test_background_run_and_reconnect_with_last_event_id_gets_each_missed_event_once(http):
    u = await user(http)
    wf = await create_workflow(http, u, linear(("wait", "delay", {"seconds": 0.3}),
                                               ("chat", "chat_model", {"model": "offline-echo"})))
    words = " ".join(f"w{i}" for i in range(40))
    started = await http.post("/executions", headers=u, json={"workflow_id": wf, "input": words})
    assert started.status_code == 200 and status(started.json()) == "QUEUED" and started.json()["background"]
    execution_id = started.json()["id"]
    first = await sse_events(http, "GET", f"/executions/{execution_id}/events", u, limit=3)  # then the client drops
    assert [int(e["id"]) for e in first] == [1, 2, 3]
    rest = await sse_events(http, "GET", f"/executions/{execution_id}/events", {**u, "Last-Event-ID": first[-1]["id"]})
    everything = await sse_events(http, "GET", f"/executions/{execution_id}/events", u)
    assert [e["id"] for e in first + rest] == [e["id"] for e in everything]
    assert everything[-1]["event"] == "run_completed"
    assert sum(1 for e in everything if e["event"] == "token") == 41
    done = (await http.get(f"/executions/{execution_id}", headers=u)).json()
    assert status(done) == "SUCCEEDED" and done["output"] == f"Echo: {words}" and done["last_seq"] == len(everything)


async def test_request_id_makes_starting_idempotent(http):
    u = await user(http)
    wf = await create_workflow(http, u, linear(("t", "template", {"template": "{{ input }}!"})))
    other = await create_workflow(http, u, linear(("t", "template", {"template": "other"})))
    one = await run(http, u, wf, "a", request_id="req-1")
    two = await run(http, u, wf, "a", request_id="req-1")
    assert one["id"] == two["id"] and two["output"] == "a!"
    queued = [await http.post("/executions", headers=u, json={"workflow_id": wf, "input": "b", "request_id": "req-2"})
              for _ in range(2)]
    assert queued[0].json()["id"] == queued[1].json()["id"]
    clash = await http.post(f"/workflows/{other}:run", headers=u, json={"input": "a", "request_id": "req-1"})
    assert clash.status_code == 409
    listed = (await http.get("/executions", headers=u, params={"workflow_id": wf})).json()["executions"]
    assert len(listed) == 2


async def test_executions_and_threads_of_another_organization_are_not_found(http):
    owner, stranger = await user(http, "owner"), await user(http, "stranger")
    wf = await create_workflow(http, owner, linear(("t", "template", {"template": "secret {{ input }}"})))
    execution = await run(http, owner, wf, "x")
    thread = (await http.post("/threads", headers=owner, json={"metadata": {"title": "mine"}})).json()
    for method, path in [("GET", f"/executions/{execution['id']}"), ("POST", f"/executions/{execution['id']}:cancel"),
                         ("POST", f"/executions/{execution['id']}:resume"),
                         ("GET", f"/executions/{execution['id']}/events"), ("GET", f"/threads/{thread['id']}"),
                         ("GET", f"/threads/{thread['id']}/messages"), ("DELETE", f"/threads/{thread['id']}"),
                         ("POST", f"/workflows/{wf}:run")]:
        response = await http.request(method, path, headers=stranger, json={} if method == "POST" else None)
        assert response.status_code == 404, (method, path, response.text)
    assert (await http.get("/executions", headers=stranger)).json()["executions"] == []
    with_thread = await http.post(f"/workflows/{wf}:run", headers=owner, json={"input": "x", "thread_id": thread["id"]})
    assert with_thread.status_code == 200
    foreign = await create_workflow(http, stranger, linear(("t", "template", {"template": "x"})))
    response = await http.post(f"/workflows/{foreign}:run", headers=stranger, json={"thread_id": thread["id"]})
    assert response.status_code == 404 and "thread" in response.json()["message"]


async def test_thread_runs_continue_the_conversation(http):
    u = await user(http)
    graph = linear(("memory", "chat_memory", {"window": 10}), ("chat", "chat_model", {"model": "offline-echo"}))
    wf = await create_workflow(http, u, graph)
    thread = (await http.post("/threads", headers=u, json={"metadata": {"title": "support"}})).json()
    first = await run(http, u, wf, "hello", thread_id=thread["id"])
    second = await run(http, u, wf, "again", thread_id=thread["id"])
    assert first["output"] == "Echo: hello" and second["output"] == "Echo (turn 2): again"
    messages = (await http.get(f"/threads/{thread['id']}/messages", headers=u)).json()["messages"]
    assert [(m["role"], m["content"]) for m in messages] == [
        ("user", "hello"), ("assistant", "Echo: hello"), ("user", "again"), ("assistant", "Echo (turn 2): again")]
    got = (await http.get(f"/threads/{thread['id']}", headers=u)).json()
    assert got["message_count"] == 4 and got["metadata"] == {"title": "support"}
    by_thread = (await http.get("/executions", headers=u, params={"thread_id": thread["id"]})).json()["executions"]
    assert {e["id"] for e in by_thread} == {first["id"], second["id"]}
    assert (await http.delete(f"/threads/{thread['id']}", headers=u)).status_code == 200
    assert (await http.get(f"/threads/{thread['id']}", headers=u)).status_code == 404


async def test_list_filters_by_status_and_pages_without_repeats(http):
    u = await user(http)
    wf = await create_workflow(http, u, linear(("t", "template", {"template": "{{ input }}"})))
    ids = {(await run(http, u, wf, i))["id"] for i in range(5)}
    seen, token = [], ""
    while True:
        page = (await http.get("/executions", headers=u, params={"page_size": 2, "page_token": token})).json()
        seen += [e["id"] for e in page["executions"]]
        token = page["next_page_token"]
        if not token:
            break
    assert set(seen) == ids and len(seen) == 5
    succeeded = (await http.get("/executions", headers=u, params={"status": "EXECUTION_STATUS_SUCCEEDED"})).json()
    assert len(succeeded["executions"]) == 5
    failed = (await http.get("/executions", headers=u, params={"status": "EXECUTION_STATUS_FAILED"})).json()
    assert failed["executions"] == []


async def test_node_catalog_lists_control_nodes_with_schemas(http):
    u = await user(http)
    listed = (await http.get("/node-types", headers=u, params={"category": "control"})).json()["node_types"]
    by_type = {t["type"]: t for t in listed}
    assert {"start", "end", "condition", "router", "loop", "merge", "human_approval", "sub_workflow"} <= set(by_type)
    assert by_type["condition"]["outputs"] == ["true", "false"]
    assert by_type["loop"]["params_schema"]["required"] == ["max_iterations"]
    chat = (await http.get("/node-types/chat_model", headers=u)).json()
    assert chat["category"] == "llms" and "model" in chat["params_schema"]["properties"]
    assert (await http.get("/node-types/nope", headers=u)).status_code == 404
    assert (await http.get("/node-types", headers=u, params={"category": "nope"})).status_code == 400


async def test_bad_run_requests_get_clear_errors(http):
    u = await user(http)
    wf = await create_workflow(http, u, linear(("t", "template", {"template": "x"})))
    cases = [("/workflows/not-an-id:run", {}, 400), (f"/workflows/{wf}:run", {"version": 99}, 404),
             (f"/workflows/{wf}:run", {"timeout_seconds": -1}, 400),
             (f"/workflows/{wf}:run", {"thread_id": "nope"}, 400),
             (f"/workflows/{wf}:run", {"input": "x" * 300_000}, 400)]
    for path, body, expected in cases:
        response = await http.post(path, headers=u, json=body)
        assert response.status_code == expected, (path, body, response.text)
        assert response.json()["message"]
    assert (await http.get("/executions/not-an-id", headers=u)).status_code == 400
    assert (await http.get(f"/executions/{wf}/events", headers=u)).status_code == 404


@pytest.mark.parametrize("template", ["simple-chat", "chat-with-memory", "branching-router", "tool-agent"])
async def test_built_in_template_runs_end_to_end_with_the_offline_model(http, template):
    u = await user(http)
    created = await http.post(f"/templates/builtin:{template}:instantiate", headers=u, json={"name": template})
    assert created.status_code == 200 and created.json()["warnings"] == [], created.text
    events = await sse_events(http, "POST", f"/workflows/{created.json()['id']}:stream", u,
                              {"input": "I would like a refund, please"})
    assert events[-1]["event"] == "run_completed", events[-2:]
    output = events[-1]["data"]["payload"]["output"]
    text = output if isinstance(output, str) else " ".join(map(str, output.values()))
    assert "I would like a refund, please" in text
    assert any(e["event"] == "token" for e in events)
