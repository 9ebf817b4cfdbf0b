"""The engine through the gateway: every control node, branches, parallel fan-in, loops, interrupts,
sub-workflows, retries, timeouts and cancellation, on real LangGraph and a real database."""

import asyncio

import httpx
import pytest

from services.executor.nodes import base
from services.executor.nodes.base import Node, NodeContext, NodeError, NodeResult
from tests.executor.helpers import create_workflow, flow, linear, run, sse_events, user

ATTEMPTS: dict[str, int] = {}


class Flaky(Node):
    """Test-only: fails its first `fail_times` attempts (counted per `key`), then succeeds."""

    type = "test_flaky"
    params_schema = {"type": "object", "required": ["key"], "properties": {"key": {"type": "string"},
                                                                           "fail_times": {"type": "integer"}}}

    async def run(self, ctx: NodeContext) -> NodeResult:
        key = self.params["key"]
        ATTEMPTS[key] = ATTEMPTS.get(key, 0) + 1
        if ATTEMPTS[key] <= self.params.get("fail_times", 1):
            raise NodeError(f"attempt {ATTEMPTS[key]} failed on purpose")
        return NodeResult(f"ok after {ATTEMPTS[key]} attempts")


@pytest.fixture
async def http(gateway_url):
    base.registry()[Flaky.type] = Flaky
    async with httpx.AsyncClient(base_url=f"{gateway_url}/api/v1", timeout=30) as client:
        yield client


def status(execution: dict) -> str:
    return execution["status"].removeprefix("EXECUTION_STATUS_")


async def events_of(http, headers, execution_id: str, after: int = 0) -> list[dict]:
    return await sse_events(http, "GET", f"/executions/{execution_id}/events", {**headers, "Last-Event-ID": str(after)})


async def test_condition_takes_one_branch_and_merge_continues(http):
    u = await user(http)
    graph = flow([("start", "start", {}), ("route", "condition", {"expression": "'refund' in input.lower()"}),
                  ("billing", "template", {"template": "billing: {{ input }}"}),
                  ("general", "template", {"template": "general: {{ input }}"}),
                  ("merge", "merge", {}), ("end", "end", {})],
                 [("start", "route"), ("route", "billing", "true"), ("route", "general", "false"),
                  ("billing", "merge"), ("general", "merge"), ("merge", "end")])
    wf = await create_workflow(http, u, graph)
    refund = await run(http, u, wf, "I want a Refund")
    assert status(refund) == "SUCCEEDED" and refund["output"] == {"billing": "billing: I want a Refund"}
    other = await run(http, u, wf, "hello")
    assert other["output"] == {"general": "general: hello"}


async def test_parallel_branches_of_different_lengths_fan_in_once(http):
    u = await user(http)
    graph = flow([("start", "start", {}), ("a", "template", {"template": "A{{ input }}"}),
                  ("b1", "template", {"template": "B{{ input }}"}), ("b2", "template", {"template": "{{ input }}!"}),
                  ("merge", "merge", {}), ("end", "end", {})],
                 [("start", "a"), ("start", "b1"), ("b1", "b2"), ("a", "merge"), ("b2", "merge"), ("merge", "end")])
    wf = await create_workflow(http, u, graph)
    result = await run(http, u, wf, "x")
    assert result["output"] == {"a": "Ax", "b2": "Bx!"}
    events = await events_of(http, u, result["id"])
    assert [e["data"]["node_id"] for e in events if e["event"] == "node_started"].count("merge") == 1


async def test_router_picks_the_first_matching_route_or_default(http):
    u = await user(http)
    routes = [{"name": "big", "expression": "input > 100"}, {"name": "small", "expression": "input > 0"}]
    graph = flow([("start", "start", {}), ("r", "router", {"routes": routes}),
                  ("big", "template", {"template": "big"}), ("small", "template", {"template": "small"}),
                  ("other", "template", {"template": "other"}), ("end", "end", {})],
                 [("start", "r"), ("r", "big", "big"), ("r", "small", "small"), ("r", "other", "default"),
                  ("big", "end"), ("small", "end"), ("other", "end")])
    wf = await create_workflow(http, u, graph)
    assert [(await run(http, u, wf, v))["output"] for v in (500, 5, -1)] == ["big", "small", "other"]


async def test_loop_repeats_its_body_at_most_max_iterations(http):
    u = await user(http)
    graph = flow([("start", "start", {}), ("loop", "loop", {"max_iterations": 3}),
                  ("body", "template", {"template": "{{ input.value }}+"}), ("end", "end", {})],
                 [("start", "loop"), ("loop", "body", "body"), ("body", "loop"), ("loop", "end", "done")])
    wf = await create_workflow(http, u, graph)
    result = await run(http, u, wf, "go")
    assert status(result) == "SUCCEEDED" and result["output"] == "go+++"
    conditional = flow([("start", "start", {}), ("loop", "loop", {"max_iterations": 50, "condition": "iteration <= 2"}),
                        ("body", "template", {"template": "{{ input.value }}."}), ("end", "end", {})],
                       [("start", "loop"), ("loop", "body", "body"), ("body", "loop"), ("loop", "end", "done")])
    assert (await run(http, u, await create_workflow(http, u, conditional), "x"))["output"] == "x.."


async def test_human_approval_interrupts_and_resume_continues_on_the_chosen_branch(http):
    u = await user(http)
    graph = flow([("start", "start", {}), ("ask", "human_approval", {"prompt": "Ship it?"}),
                  ("yes", "template", {"template": "shipped {{ input.input }}"}),
                  ("no", "template", {"template": "held: {{ input.answer.comment }}"}), ("end", "end", {})],
                 [("start", "ask"), ("ask", "yes", "approved"), ("ask", "no", "rejected"), ("yes", "end"), ("no", "end")])
    wf = await create_workflow(http, u, graph)
    streamed = await sse_events(http, "POST", f"/workflows/{wf}:stream", u, {"input": "v1"})
    assert streamed[-1]["event"] == "interrupt" and streamed[-1]["data"]["payload"]["prompt"] == "Ship it?"
    execution_id = streamed[-1]["data"]["execution_id"]
    paused = (await http.get(f"/executions/{execution_id}", headers=u)).json()
    assert status(paused) == "INTERRUPTED" and paused["interrupt"]["prompt"] == "Ship it?"
    resumed = await http.post(f"/executions/{execution_id}:resume", headers=u,
                              json={"value": {"approved": False, "comment": "not today"}})
    assert resumed.status_code == 200, resumed.text
    rest = await events_of(http, u, execution_id, after=int(streamed[-1]["id"]))
    assert rest[-1]["event"] == "run_completed" and rest[-1]["data"]["payload"]["output"] == "held: not today"
    assert int(rest[0]["id"]) == int(streamed[-1]["id"]) + 1  # one numbering across the pause
    again = await http.post(f"/executions/{execution_id}:resume", headers=u, json={"value": True})
    assert again.status_code == 400 and "not waiting" in again.json()["message"]


async def test_sub_workflow_runs_the_version_pinned_at_start(http):
    u = await user(http)
    child = await create_workflow(http, u, linear(("shout", "template", {"template": "{{ input | upper }}"})), "child")
    parent = await create_workflow(http, u, linear(("sub", "sub_workflow", {"workflow_id": child}),
                                                   ("wrap", "template", {"template": "[{{ input }}]"})), "parent")
    result = await run(http, u, parent, "hi")
    assert status(result) == "SUCCEEDED" and result["output"] == "[HI]"
    events = await events_of(http, u, result["id"])
    assert "sub/shout" in {e["data"]["node_id"] for e in events}
    missing = await create_workflow(http, u, linear(("sub", "sub_workflow", {
        "workflow_id": "00000000-0000-4000-8000-000000000000"})), "dangling")
    response = await http.post(f"/workflows/{missing}:run", headers=u, json={"input": "x"})
    assert response.status_code == 404


async def test_failed_node_is_retried_then_succeeds(http):
    u = await user(http)
    wf = await create_workflow(http, u, linear(("flaky", "test_flaky", {
        "key": "retry-ok", "fail_times": 2, "retry": {"max_attempts": 3, "backoff_seconds": 0.01}})))
    result = await run(http, u, wf, "x")
    assert status(result) == "SUCCEEDED" and result["output"] == "ok after 3 attempts"
    kinds = [e["event"] for e in await events_of(http, u, result["id"])]
    assert kinds.count("node_retry") == 2 and "node_failed" not in kinds
    exhausted = await create_workflow(http, u, linear(("flaky", "test_flaky", {
        "key": "retry-fail", "fail_times": 5, "retry": {"max_attempts": 2, "backoff_seconds": 0}})))
    failed = await run(http, u, exhausted, "x")
    assert status(failed) == "FAILED" and failed["error"]["code"] == "NODE_FAILED"
    assert failed["error"]["node_id"] == "flaky" and "attempt 2 failed" in failed["error"]["message"]


async def test_node_timeout_and_run_timeout_fail_the_run(http):
    u = await user(http)
    slow_node = await create_workflow(http, u, linear(("wait", "delay", {"seconds": 5, "timeout_seconds": 0.2})))
    failed = await run(http, u, slow_node, "x")
    assert status(failed) == "FAILED" and failed["error"]["code"] == "NODE_TIMEOUT"
    slow_run = await create_workflow(http, u, linear(("wait", "delay", {"seconds": 5})))
    timed_out = await run(http, u, slow_run, "x", timeout_seconds=1)
    assert status(timed_out) == "FAILED" and timed_out["error"]["code"] == "RUN_TIMEOUT"


async def test_cancel_stops_a_running_execution_promptly_and_stays_cancelled(http):
    u = await user(http)
    wf = await create_workflow(http, u, linear(("wait", "delay", {"seconds": 30}),
                                               ("after", "template", {"template": "too late"})))
    started = await http.post("/executions", headers=u, json={"workflow_id": wf, "input": "x"})
    execution_id = started.json()["id"]
    for _ in range(100):
        current = (await http.get(f"/executions/{execution_id}", headers=u)).json()
        if status(current) == "RUNNING":
            break
        await asyncio.sleep(0.05)
    loop = asyncio.get_running_loop()
    began = loop.time()
    cancelled = await http.post(f"/executions/{execution_id}:cancel", headers=u, json={})
    assert cancelled.status_code == 200 and status(cancelled.json()) == "CANCELLED"
    assert loop.time() - began < 3
    events = await events_of(http, u, execution_id)
    assert events[-1]["event"] == "run_cancelled"
    assert "after" not in {e["data"]["node_id"] for e in events}
    again = await http.post(f"/executions/{execution_id}:cancel", headers=u, json={})
    assert status(again.json()) == "CANCELLED" and again.json()["end_time"] == cancelled.json()["end_time"]


async def test_invalid_graph_or_parameters_are_failed_precondition_listing_the_problems(http):
    u = await user(http)
    draft = flow([("start", "start", {}), ("t", "template", {"template": "{% for %}"}),
                  ("c", "condition", {"expression": "x.__class__"})], [("start", "t"), ("t", "c", "true")])
    wf = await create_workflow(http, u, draft)  # saving a draft is fine
    response = await http.post(f"/workflows/{wf}:run", headers=u, json={"input": "x"})
    assert response.status_code == 400 and response.json()["status"] == "FAILED_PRECONDITION"
    assert "needs at least one end node" in response.json()["message"]
    bad_params = await create_workflow(http, u, linear(("t", "template", {"template": "{% for %}"}),
                                                       ("l", "loop", {"max_iterations": 0})))
    response = await http.post(f"/workflows/{bad_params}:run", headers=u, json={"input": "x"})
    body = response.json()
    assert response.status_code == 400 and "nodes[t].data.template" in body["message"]
    subjects = [v["subject"] for d in body["details"] for v in d.get("violations", [])]
    assert "flow_data.nodes[l].data.max_iterations" in subjects


async def test_sandboxed_expressions_cannot_reach_python_internals(http):
    u = await user(http)
    wf = await create_workflow(http, u, linear(("t", "template", {"template": "{{ input.__class__.__mro__ }}"})))
    result = await run(http, u, wf, "x")
    assert status(result) == "FAILED" and "unsafe" in result["error"]["message"]


async def test_a_runaway_template_fails_its_run_and_the_executor_keeps_serving(http):
    """Nested loops over small ranges multiply past any range limit; a macro may call itself. Both end as the
    node's error, and the executor (whose event loop renders templates) answers the next run at once."""
    u = await user(http)
    nested = "{% for a in range(10000) %}{% for b in range(10000) %}{{ b }}{% endfor %}{% endfor %}"
    recursive = "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}"
    for template, message in ((nested, "1,000,000 steps"), (recursive, "recurses too deeply")):
        wf = await create_workflow(http, u, linear(("t", "template", {"template": template})))
        result = await run(http, u, wf, "x")
        assert status(result) == "FAILED" and message in result["error"]["message"], result
    fine = await create_workflow(http, u, linear(
        ("t", "template", {"template": "{% for w in input.split() %}{{ loop.index }}:{{ w }} {% endfor %}"})))
    assert (await run(http, u, fine, "a b"))["output"] == "1:a 2:b "
