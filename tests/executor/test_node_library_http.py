"""The node library through the gateway: credentials resolved with the executor's service identity (and
never leaked), token usage on the execution, provider errors and retries, agents with tools, memory threads,
the node catalog."""

import json
import logging
import uuid

import asyncpg
import httpx
import pytest

from services.common import outbound
from services.executor.nodes import base
from services.executor.nodes.base import registry
from tests.executor.helpers import create_workflow, flow, linear, run, sse_events, user
from tests.fakes.providers import INPUT_TOKENS, FakeProviders, serve

CANARY = "sk-canary-" + uuid.uuid4().hex


@pytest.fixture
async def http(gateway_url):
    async with httpx.AsyncClient(base_url=f"{gateway_url}/api/v1", timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
async def fake():
    providers = FakeProviders()
    url, server, task = await serve(providers.app)
    providers.url = url
    yield providers
    server.should_exit = True
    await task


@pytest.fixture
def loopback_allowed(monkeypatch):
    monkeypatch.setattr(base, "_outbound_policy", outbound.Policy.of(False, ["127.0.0.1/32"]))


async def credential(http, headers, service_type: str, secret: str = CANARY, name: str = "default") -> str:
    created = await http.post("/credentials", headers=headers, json={
        "credential": {"name": name, "service_type": service_type}, "secret": secret})
    assert created.status_code == 200, created.text
    return created.json()["id"]


def model(fake, provider: str, **extra) -> dict:
    base = {"openai": "/openai/v1", "anthropic": "/anthropic", "google": "/google", "ollama": "/ollama"}[provider]
    return {"provider": provider, "model": "fake-model", "base_url": fake.url + base,
            "credential": {"service_type": provider, "name": "default"}, **extra}


async def background(http, headers, workflow_id: str, value, **extra) -> tuple[dict, list[dict]]:
    """A background run (so it is checkpointed), its events and the finished execution."""
    started = await http.post("/executions", headers=headers, json={"workflow_id": workflow_id, "input": value, **extra})
    assert started.status_code == 200, started.text
    execution_id = started.json()["id"]
    events = await sse_events(http, "GET", f"/executions/{execution_id}/events", headers)
    return (await http.get(f"/executions/{execution_id}", headers=headers)).json(), events


async def test_canary_secret_reaches_every_provider_and_nothing_else(http, fake, loopback_allowed, migrated_database,
                                                                     caplog):
    caplog.set_level(logging.DEBUG)
    u = await user(http, "canary")
    for provider in ("openai", "anthropic", "google", "ollama"):
        await credential(http, u, provider)
    by_id = await credential(http, u, "openai", name="by-id")
    schema = {"type": "object", "properties": {"topic": {"type": "string"}}, "required": ["topic"]}
    graph = linear(
        ("openai", "chat_model", model(fake, "openai", credential=by_id)),
        ("anthropic", "chat_model", model(fake, "anthropic")),
        ("google", "llm_chain", model(fake, "google", prompt="Say: {input}")),
        ("ollama", "summarize", model(fake, "ollama")),
        ("memory", "summary_memory", model(fake, "openai", max_tokens_budget=10)),
        ("seq", "sequential_chain", model(fake, "anthropic", steps=[{"prompt": "a {input}"}, {"prompt": "b {input}"}])),
        ("agent", "agent", model(fake, "google", tools=["calculator"])),
        ("structured", "structured_output", model(fake, "ollama", schema=schema)),
        ("parse", "json_parser", {"schema": schema, "repair_model": model(fake, "openai")}),
    )
    thread = (await http.post("/threads", headers=u, json={"metadata": {}})).json()["id"]
    await run(http, u, await create_workflow(http, u, linear(("t", "template", {"template": "an earlier turn " * 5}))),
              "first message of the thread", thread_id=thread)
    workflow_id = await create_workflow(http, u, graph)
    before = len(fake.requests)
    execution, events = await background(http, u, workflow_id, "hello", thread_id=thread)
    assert execution["status"] == "EXECUTION_STATUS_SUCCEEDED", execution
    assert execution["output"]["topic"].startswith("Hello from google: ")
    keys = [r[1].get("x-goog-api-key") or r[1].get("authorization", "").removeprefix("Bearer ")
            for r in fake.requests[before:]]
    assert len(keys) >= 9 and set(keys) == {CANARY}, "every provider call carries the resolved key"
    # ... and the secret is nowhere else: events, the execution, the thread, logs, the executor's tables.
    messages = (await http.get(f"/threads/{thread}/messages", headers=u)).text
    assert CANARY not in json.dumps(events) + json.dumps(execution) + messages + caplog.text
    conn = await asyncpg.connect(migrated_database)
    try:
        for table in ("executions", "execution_events", "thread_messages", "checkpoints"):
            found = await conn.fetchval(f"SELECT count(*) FROM executor.{table} t WHERE t::text LIKE $1", f"%{CANARY}%")
            assert found == 0, table
        for table in ("checkpoint_blobs", "checkpoint_writes"):
            found = await conn.fetchval(f"SELECT count(*) FROM executor.{table} WHERE position($1::bytea in blob) > 0",
                                        CANARY.encode())
            assert found == 0, table
        assert await conn.fetchval("SELECT count(*) FROM executor.checkpoint_blobs b JOIN executor.checkpoints c "
                                   "USING (thread_id) WHERE c.thread_id = $1", execution["id"]) > 0
    finally:
        await conn.close()


async def test_token_usage_per_node_in_events_and_summed_on_the_execution(http, fake, loopback_allowed):
    u = await user(http, "usage")
    await credential(http, u, "openai")
    await credential(http, u, "anthropic")
    workflow_id = await create_workflow(http, u, linear(("a", "chat_model", model(fake, "openai")),
                                                        ("b", "chat_model", model(fake, "anthropic"))))
    events = await sse_events(http, "POST", f"/workflows/{workflow_id}:stream", u, {"input": "one two"})
    usage = {e["data"]["node_id"]: e["data"]["payload"].get("usage") for e in events if e["event"] == "node_completed"}
    # "Hello from openai: one two" is 5 words; the anthropic node answers that with 8.
    assert usage["a"] == {"input_tokens": INPUT_TOKENS, "output_tokens": 5}
    assert usage["b"] == {"input_tokens": INPUT_TOKENS, "output_tokens": 8}
    assert usage["start"] is None
    execution_id = events[0]["data"]["execution_id"]
    execution = (await http.get(f"/executions/{execution_id}", headers=u)).json()
    assert execution["usage"] == {"input_tokens": 2 * INPUT_TOKENS, "output_tokens": 13}
    # Summed per organization (and per workflow, in a time range); another organization sees none of it.
    await sse_events(http, "POST", f"/workflows/{workflow_id}:stream", u, {"input": "one two"})
    total = (await http.get("/usage", headers=u)).json()
    assert total == {"executions": "2", "input_tokens": str(4 * INPUT_TOKENS), "output_tokens": "26"}
    one = (await http.get("/usage", headers=u, params={"workflow_id": workflow_id,
                                                        "created_after": "2020-01-01T00:00:00Z"})).json()
    assert one == total
    later = (await http.get("/usage", headers=u, params={"created_after": "2999-01-01T00:00:00Z"})).json()
    assert later.get("executions", "0") == "0" and later.get("input_tokens", "0") == "0"
    stranger = await user(http, "usage-other")
    assert (await http.get("/usage", headers=stranger)).json().get("executions", "0") == "0"
    bad = await http.get("/usage", headers=u, params={"workflow_id": "not-an-id"})
    assert bad.status_code == 400


async def test_provider_errors_fail_the_node_clearly_and_follow_its_retry_policy(http, fake, loopback_allowed):
    u = await user(http, "errors")
    await credential(http, u, "openai")

    async def events_of(text: str, **node) -> list[dict]:
        wf = await create_workflow(http, u, linear(("llm", "chat_model", {**model(fake, "openai"), **node})))
        return await sse_events(http, "POST", f"/workflows/{wf}:stream", u, {"input": text})

    def of(events, kind):
        return [e["data"]["payload"] for e in events if e["event"] == kind]

    # 429 with Retry-After: 1 once, then an answer: one retry, waiting what the provider asked.
    events = await events_of(f"FLAKY429 {uuid.uuid4()}", retry={"max_attempts": 2, "backoff_seconds": 0})
    assert of(events, "node_retry")[0]["code"] == "PROVIDER_RATE_LIMITED"
    assert of(events, "node_retry")[0]["delay_seconds"] == 1
    assert events[-1]["event"] == "run_completed"
    # A refused key is not retried, whatever the policy.
    events = await events_of("FAIL401", retry={"max_attempts": 3, "backoff_seconds": 0})
    failed = of(events, "node_failed")[0]
    assert failed["code"] == "PROVIDER_AUTH" and failed["attempts"] == 1 and not of(events, "node_retry")
    assert "refused the API key" in of(events, "run_failed")[0]["error"]["message"]
    # 5xx and timeouts are retried up to max_attempts.
    events = await events_of("FAIL500", retry={"max_attempts": 2, "backoff_seconds": 0})
    assert of(events, "node_failed")[0] | {"error": ""} == {"error": "", "code": "PROVIDER_UNAVAILABLE", "attempts": 2}
    events = await events_of("SLOW", request_timeout_seconds=1)
    assert of(events, "node_failed")[0]["code"] == "PROVIDER_TIMEOUT"


async def test_a_missing_credential_is_a_clear_node_error(http, fake, loopback_allowed):
    u = await user(http, "nocred")
    wf = await create_workflow(http, u, linear(("llm", "chat_model", model(fake, "openai", credential="nope"))))
    execution = await run(http, u, wf, "hi")
    assert execution["status"] == "EXECUTION_STATUS_FAILED"
    assert "does not exist" in execution["error"]["message"] or "nope" in execution["error"]["message"]
    other = await user(http, "nocred-other")  # another organization's credential is not found either
    their = await credential(http, other, "openai", secret="sk-theirs-123456")
    wf = await create_workflow(http, u, linear(("llm", "chat_model", model(fake, "openai", credential=their))))
    execution = await run(http, u, wf, "hi")
    assert execution["status"] == "EXECUTION_STATUS_FAILED" and "does not exist" in execution["error"]["message"]


async def test_offline_agent_calls_two_tools_and_answers(http):
    u = await user(http, "agent")
    script = [{"tool_calls": [{"name": "calculator", "args": {"expression": "6 * 7"}},
                              {"name": "current_time", "args": {"timezone": "UTC"}}]},
              "6 * 7 is {tool_results}"]
    wf = await create_workflow(http, u, linear(("agent", "agent", {
        "model": "offline-scripted", "script": script, "tools": ["calculator", "current_time"], "max_iterations": 2})))
    events = await sse_events(http, "POST", f"/workflows/{wf}:stream", u, {"input": "what is 6 * 7, and when?"})
    calls = [e["data"]["payload"] for e in events if e["event"] == "tool_call"]
    results = [e["data"]["payload"] for e in events if e["event"] == "tool_result"]
    assert [c["name"] for c in calls] == ["calculator", "current_time"]
    assert results[0] == {"id": calls[0]["id"], "name": "calculator", "output": "42"}
    output = events[-1]["data"]["payload"]["output"]
    assert output.startswith("6 * 7 is 42; 20")
    assert "".join(e["data"]["payload"]["text"] for e in events if e["event"] == "token") == output


async def test_agent_with_web_search_http_request_and_a_workflow_tool(http, fake, loopback_allowed):
    u = await user(http, "tools")
    tavily = await credential(http, u, "tavily", secret="tvly-fake-key")
    helper = await create_workflow(http, u, linear(("t", "template", {"template": "helper got {{ input }}"})))
    script = [{"tool_calls": [{"name": "web_search", "args": {"query": "langgraph"}},
                              {"name": "http_request", "args": {"url": fake.url + "/site/echo", "method": "POST",
                                                                "body": "ping", "headers": {"X-Test": "1"}}},
                              {"name": "ask_helper", "args": {"input": "hi"}}]}, "done: {tool_results}"]
    wf = await create_workflow(http, u, linear(("agent", "agent", {"model": "offline-scripted", "script": script, "tools": [
        {"type": "web_search", "provider": "tavily", "credential": tavily, "base_url": fake.url + "/tavily",
         "max_results": 2},
        {"type": "http_request", "methods": ["GET", "POST"], "max_response_bytes": 1000},
        {"type": "workflow", "name": "ask_helper", "workflow_id": helper}]})))
    execution = await run(http, u, wf, "go")
    assert execution["status"] == "EXECUTION_STATUS_SUCCEEDED", execution
    output = execution["output"]
    assert '"title": "Result 1 for langgraph"' in output and "Result 3" not in output
    assert 'HTTP 200\n{"method":"POST","body":"ping","x_test":"1"}' in output
    assert output.endswith("helper got hi")


async def test_chat_with_memory_thread_remembers_across_three_runs(http):
    u = await user(http, "memory")
    thread = (await http.post("/threads", headers=u, json={"metadata": {}})).json()["id"]
    wf = await create_workflow(http, u, linear(
        ("memory", "buffer_memory", {}),
        ("chat", "chat_model", {"model": "offline-memory", "script": ["Before you said: {history}. Now: {input}"]})))
    outputs = [(await run(http, u, wf, text, thread_id=thread))["output"] for text in ("my name is Ada", "I like tea",
                                                                                       "what do you know?")]
    assert outputs[0] == "Before you said: . Now: my name is Ada"
    assert outputs[2] == "Before you said: my name is Ada | I like tea. Now: what do you know?"
    # A window of two messages keeps only the last exchange; a summary folds the older ones into one message.
    window = await create_workflow(http, u, linear(
        ("memory", "chat_memory", {"window": 2}),
        ("chat", "chat_model", {"model": "offline-memory", "script": ["{history}"]})))
    assert (await run(http, u, window, "x", thread_id=thread))["output"] == "what do you know?"
    summary = await create_workflow(http, u, linear(
        ("memory", "summary_memory", {"model": "offline-summary", "script": ["SUMMARY({input})"],
                                      "max_tokens_budget": 10, "keep_last": 2}),
        ("chat", "chat_model", {"model": "offline-memory", "script": ["{system} / {history}"]})))
    answer = (await run(http, u, summary, "y", thread_id=thread))["output"]
    assert answer.startswith("Summary of the earlier conversation: SUMMARY(user: my name is Ada")
    assert answer.endswith(" / x")


async def test_node_types_lists_every_node_with_its_schema(http):
    listed = (await http.get("/node-types")).json()["node_types"]
    product = {t for t, cls in registry().items() if cls.__module__.startswith("services.executor.nodes.")}
    assert product <= {n["type"] for n in listed} and len(product) >= 25
    for node in listed:
        if node["type"] not in product:
            continue  # a node type a test registered
        assert node["params_schema"]["type"] == "object" and node["category"] and node["description"], node["type"]
    agent = next(n for n in listed if n["type"] == "agent")
    assert "tools" in agent["params_schema"]["properties"] and "credential" in agent["params_schema"]["properties"]


async def test_http_tool_refuses_internal_addresses_through_a_run(http):
    u = await user(http, "ssrf")
    script = [{"tool_calls": [{"name": "http_request", "args": {"url": url}} for url in (
        "http://127.0.0.1:9/", "http://169.254.169.254/latest/meta-data/", "http://localhost:9/")]}, "{tool_results}"]
    wf = await create_workflow(http, u, linear(("agent", "agent", {
        "model": "offline-x", "script": script, "tools": ["http_request"]})))
    execution = await run(http, u, wf, "fetch")
    assert execution["output"].count("Error: refusing to connect") == 3, execution["output"]
    assert "loopback" in execution["output"] and "metadata" in execution["output"]


def test_flow_helper_builds_edges():  # the helpers above rely on linear(); keep them honest
    graph = flow([("a", "start", {}), ("b", "end", {})], [("a", "b")])
    assert graph["edges"] == [{"id": "e0", "source": "a", "target": "b"}]


@pytest.mark.parametrize(("slug", "text", "expected"), [
    ("simple-chat", "hi", "Hello from openai: hi"), ("chat-with-memory", "hi", "Hello from openai: hi"),
    ("tool-agent", "use calculator", "Tool said: 42"),
    ("summarize-document", None, "Hello from openai: page doc"),  # one chunk: one call
    ("branching-router", "a refund please", "Hello from openai: a refund please"),
])
async def test_builtin_templates_run_against_a_provider_with_its_real_client(http, fake, loopback_allowed, slug, text,
                                                                             expected):
    from services.workflow.builtin_templates import BY_ID

    u = await user(http, "templates")
    await credential(http, u, "openai")
    graph = json.loads(json.dumps(BY_ID[f"builtin:{slug}"].flow_data))
    for node in graph["nodes"]:
        if "model" in node["data"]:
            node["data"].update(model="gpt-4o-mini", provider="openai", base_url=fake.url + "/openai/v1")
        if node["type"] == "web_loader":
            node["data"]["url"] = fake.url + "/site/doc"
    execution = await run(http, u, await create_workflow(http, u, graph), text)
    assert execution["status"] == "EXECUTION_STATUS_SUCCEEDED", execution
    output = execution["output"]
    assert (output if isinstance(output, str) else json.dumps(output)).find(expected) >= 0, output
    assert execution["usage"]["input_tokens"] >= INPUT_TOKENS
