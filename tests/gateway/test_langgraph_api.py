"""The LangGraph Platform–compatible API (`/langgraph`), driven by the real `langgraph_sdk` client."""

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.errors import AuthenticationError, NotFoundError, UnprocessableEntityError

from tests.executor.helpers import create_workflow, flow, linear, user

GREET = ("greet", "template", {"template": "Hello, {{ input }}!"})
ECHO = ("chat", "chat_model", {"model": "offline-echo"})


@pytest.fixture
async def api(gateway_url):
    async with httpx.AsyncClient(base_url=f"{gateway_url}/api/v1", timeout=30) as client:
        yield client


async def api_key(api, headers: dict) -> str:
    created = await api.post("/api-keys", headers=headers, json={"name": "sdk", "role": "member"})
    assert created.status_code == 200, created.text
    return created.json()["key"]


@pytest.fixture
async def org(api, gateway_url):
    """A new organization: its owner's headers, and an SDK client with an API key of it."""
    headers = await user(api, "lg")
    client = get_client(url=f"{gateway_url}/langgraph", api_key=await api_key(api, headers))
    yield headers, client
    await client.aclose()


def human(text: str) -> dict:
    return {"type": "human", "content": text}


def ai(text: str) -> dict:
    return {"type": "ai", "content": text}


async def test_assistants_are_the_organization_workflows(api, org):
    headers, client = org
    first = await create_workflow(api, headers, linear(GREET), "greeter")
    second = await create_workflow(api, headers, linear(ECHO), "echo bot")
    found = await client.assistants.search(limit=10)
    assert {a["assistant_id"] for a in found} == {first, second}
    paged = await client.assistants.search(limit=1, offset=0, response_format="object")
    assert len(paged["assistants"]) == 1 and paged["next"] == "1"
    rest = await client.assistants.search(limit=1, offset=1, response_format="object")
    assert {paged["assistants"][0]["assistant_id"], rest["assistants"][0]["assistant_id"]} == {first, second}
    assert rest["next"] is None
    assert [a["name"] for a in await client.assistants.search(name="ECHO")] == ["echo bot"]
    assert [a["assistant_id"] for a in await client.assistants.search(graph_id=first)] == [first]
    assert await client.assistants.search(metadata={"team": "x"}) == []
    got = await client.assistants.get(first)
    assert got["assistant_id"] == got["graph_id"] == first
    assert got["name"] == "greeter" and got["version"] == 1 and got["config"] == {} and got["created_at"]


async def test_stream_on_a_thread_sends_metadata_updates_and_values_and_keeps_the_history(api, org):
    headers, client = org
    wf = await create_workflow(api, headers, linear(GREET))
    thread = await client.threads.create(metadata={"title": "greetings"})
    assert thread["status"] == "idle" and thread["metadata"] == {"title": "greetings"}
    created = []
    chunks = [c async for c in client.runs.stream(thread["thread_id"], wf, stream_mode=["values", "updates"],
                                                  input={"messages": [{"role": "user", "content": "Ada"}]},
                                                  on_run_created=created.append)]
    assert chunks[0].event == "metadata" and chunks[0].data["run_id"]
    assert created == [{"run_id": chunks[0].data["run_id"], "thread_id": thread["thread_id"]}]
    updates = [c.data for c in chunks if c.event == "updates"]
    assert {"greet": "Hello, Ada!"} in updates
    assert chunks[-1].event == "values"
    assert chunks[-1].data == {"messages": [human("Ada"), ai("Hello, Ada!")]}
    run = await client.runs.get(thread["thread_id"], chunks[0].data["run_id"])
    assert run["status"] == "success" and run["assistant_id"] == wf
    second = [c async for c in client.runs.stream(thread["thread_id"], wf,
                                                  input={"messages": [{"type": "human", "content": "Bob"}]})]
    assert [c.event for c in second] == ["metadata", "values"]  # the default mode is values
    history = [human("Ada"), ai("Hello, Ada!"), human("Bob"), ai("Hello, Bob!")]
    assert second[-1].data == {"messages": history}
    state = await client.threads.get_state(thread["thread_id"])
    assert state["values"] == {"messages": history} and state["next"] == []
    got = await client.threads.get(thread["thread_id"])
    assert got["values"] == {"messages": history} and got["status"] == "idle"
    await client.threads.delete(thread["thread_id"])
    with pytest.raises(NotFoundError):
        await client.threads.get(thread["thread_id"])


async def test_stateless_stream_sends_model_tokens_as_messages(api, org):
    headers, client = org
    wf = await create_workflow(api, headers, linear(ECHO))
    chunks = [c async for c in client.runs.stream(None, wf, input={"messages": [{"role": "user", "content": "one two"}]},
                                                  stream_mode=["messages-tuple", "values"])]
    tokens = [c.data for c in chunks if c.event == "messages"]
    assert tokens and all(t[0]["type"] == "AIMessageChunk" and t[1]["langgraph_node"] == "chat" for t in tokens)
    assert "".join(t[0]["content"] for t in tokens) == "Echo: one two"
    assert chunks[-1].data == {"messages": [human("one two"), ai("Echo: one two")]}
    legacy = [c async for c in client.runs.stream(None, wf, input={"messages": [{"role": "user", "content": "hi"}]},
                                                  stream_mode="messages")]
    kinds = [c.event for c in legacy]
    assert kinds[1] == "messages/metadata" and "messages/partial" in kinds
    assert legacy[-1].event == "messages/complete" and legacy[-1].data[0]["content"] == "Echo: hi"


async def test_wait_returns_the_final_values(api, org):
    headers, client = org
    wf = await create_workflow(api, headers, linear(GREET))
    assert await client.runs.wait(None, wf, input={"name": "x"}) == {"output": "Hello, {'name': 'x'}!"}
    conversation = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"},
                    {"role": "user", "content": [{"type": "text", "text": "Cy"}]}]
    values = await client.runs.wait(None, wf, input={"messages": conversation})
    assert values == {"messages": [human("hi"), ai("hello"), human("Cy"), ai("Hello, Cy!")]}
    thread = await client.threads.create()
    on_thread = await client.runs.wait(thread["thread_id"], wf, input={"messages": [{"role": "user", "content": "Di"}]})
    assert on_thread == {"messages": [human("Di"), ai("Hello, Di!")]}


async def test_a_failed_run_is_an_error_in_wait_and_in_the_stream(api, org):
    headers, client = org
    wf = await create_workflow(api, headers, linear(("wait", "delay", {"seconds": 5, "timeout_seconds": 0.2})))
    with pytest.raises(Exception, match="NODE_TIMEOUT"):
        await client.runs.wait(None, wf, input={"messages": [{"role": "user", "content": "x"}]})
    chunks = [c async for c in client.runs.stream(None, wf, input="x")]
    assert chunks[-1].event == "error" and chunks[-1].data["error"] == "NODE_TIMEOUT"


async def test_background_run_joins_to_its_result(api, org):
    headers, client = org
    wf = await create_workflow(api, headers, linear(("wait", "delay", {"seconds": 0.3}), GREET))
    thread = await client.threads.create()
    created = await client.runs.create(thread["thread_id"], wf, input={"messages": [{"role": "user", "content": "Eve"}]})
    assert created["status"] in ("pending", "running") and created["thread_id"] == thread["thread_id"]
    busy = await client.threads.get(thread["thread_id"])
    joined = await client.runs.join(thread["thread_id"], created["run_id"])
    assert joined == {"messages": [human("Eve"), ai("Hello, Eve!")]}
    assert (await client.runs.get(thread["thread_id"], created["run_id"]))["status"] == "success"
    assert busy["status"] in ("busy", "idle")
    other = await client.threads.create()
    with pytest.raises(NotFoundError):  # the run is not of this thread
        await client.runs.get(other["thread_id"], created["run_id"])


async def test_cancel_stops_a_background_run(api, org):
    headers, client = org
    wf = await create_workflow(api, headers, linear(("wait", "delay", {"seconds": 30}), GREET))
    thread = await client.threads.create()
    created = await client.runs.create(thread["thread_id"], wf, input={"task": "slow"})
    await client.runs.cancel(thread["thread_id"], created["run_id"], wait=True)
    assert (await client.runs.get(thread["thread_id"], created["run_id"]))["status"] == "interrupted"
    assert await client.runs.join(thread["thread_id"], created["run_id"]) == {"output": None}


async def test_another_organization_sees_nothing(api, org, gateway_url):
    headers, client = org
    wf = await create_workflow(api, headers, linear(GREET))
    thread = await client.threads.create()
    stranger = get_client(url=f"{gateway_url}/langgraph", api_key=await api_key(api, await user(api, "lg2")))
    with pytest.raises(NotFoundError):
        await stranger.assistants.get(wf)
    with pytest.raises(NotFoundError):
        await stranger.threads.get(thread["thread_id"])
    with pytest.raises(NotFoundError):
        [c async for c in stranger.runs.stream(None, wf, input="x")]
    assert await stranger.assistants.search() == []
    await stranger.aclose()


async def test_bad_requests_are_4xx_that_say_what_to_fix(api, org, gateway_url):
    headers, client = org
    wf = await create_workflow(api, headers, linear(GREET))
    with pytest.raises(UnprocessableEntityError, match="stream_mode"):
        [c async for c in client.runs.stream(None, wf, input="x", stream_mode="bogus")]
    with pytest.raises(UnprocessableEntityError, match="command.resume needs a thread"):
        await client.runs.create(None, wf, command={"resume": "yes"})
    with pytest.raises(UnprocessableEntityError, match="only command.resume"):
        await client.runs.create(None, wf, command={"goto": "greet"})
    with pytest.raises(httpx.HTTPStatusError) as refused:  # runs.wait raises httpx's own error
        await client.runs.wait(None, wf, input={"messages": [{"role": "assistant", "content": "hi"}]})
    assert refused.value.response.status_code == 422 and "user message" in refused.value.response.json()["message"]
    with pytest.raises(UnprocessableEntityError, match="limit"):
        await client.assistants.search(limit=0)
    key = client.http.client.headers["x-api-key"]
    async with httpx.AsyncClient(base_url=f"{gateway_url}/langgraph", headers={"x-api-key": key}) as raw:
        missing = await raw.post("/runs/wait", json={"input": {}})
        assert missing.status_code == 422 and "assistant_id" in missing.json()["message"]
        not_object = await raw.post("/threads", json=[1])
        assert not_object.status_code == 422
        malformed = await raw.post("/runs/wait", content=b"{", headers={"content-type": "application/json"})
        assert malformed.status_code == 400 and "JSON" in malformed.json()["message"]
        huge = await raw.post("/runs/wait", headers={"content-type": "application/json"},
                              content=b'{"assistant_id": "%s", "input": {"n": 1%s}}' % (wf.encode(), b"0" * 400))
        assert huge.status_code == 422 and huge.json()["details"][0]["field_violations"][0]["field"] == "input"
        bad_id = await raw.get("/threads/not-a-uuid")
        assert bad_id.status_code == 400


async def test_a_bearer_token_works_and_no_credentials_are_refused(api, gateway_url):
    headers = await user(api, "lgbearer")
    wf = await create_workflow(api, headers, linear(GREET))
    async with get_client(url=f"{gateway_url}/langgraph", api_key=None, headers=headers) as client:
        assert [a["assistant_id"] for a in await client.assistants.search()] == [wf]
        assert await client.runs.wait(None, wf, input={"x": 1}) == {"output": "Hello, {'x': 1}!"}
    async with get_client(url=f"{gateway_url}/langgraph", api_key=None) as anonymous:
        with pytest.raises(AuthenticationError):
            await anonymous.assistants.search()


APPROVAL = flow([("start", "start", {}), ("ask", "human_approval", {"prompt": "Ship it?"}),
                 ("yes", "template", {"template": "shipped {{ input.input }}"}),
                 ("no", "template", {"template": "held: {{ input.answer.comment }}"}), ("end", "end", {})],
                [("start", "ask"), ("ask", "yes", "approved"), ("ask", "no", "rejected"), ("yes", "end"),
                 ("no", "end")])


async def test_a_human_approval_is_answered_with_command_resume(api, org):
    """The run pauses at the approval node (`__interrupt__`, status interrupted); command.resume on the thread
    answers it, in a stream and in a wait, and the run goes on down the chosen branch."""
    headers, client = org
    wf = await create_workflow(api, headers, APPROVAL)
    thread = (await client.threads.create())["thread_id"]
    paused = [c async for c in client.runs.stream(thread, wf, input={"release": "v1"}, stream_mode="updates")]
    interrupts = [c.data["__interrupt__"] for c in paused if c.event == "updates" and "__interrupt__" in c.data]
    assert interrupts and interrupts[0][0]["value"]["prompt"] == "Ship it?"
    waiting = paused[0].data["run_id"]
    assert (await client.runs.get(thread, waiting))["status"] == "interrupted"
    assert (await client.threads.get(thread))["status"] == "interrupted"

    resumed = [c async for c in client.runs.stream(thread, wf, command={"resume": {"approved": True}},
                                                   stream_mode=["updates", "values"])]
    assert {"yes": "shipped {'release': 'v1'}"} in [c.data for c in resumed if c.event == "updates"]
    assert resumed[-1].event == "values" and resumed[-1].data == {"output": "shipped {'release': 'v1'}"}
    assert (await client.runs.get(thread, waiting))["status"] == "success"
    with pytest.raises(httpx.HTTPStatusError) as refused:  # runs.wait raises httpx's own error
        await client.runs.wait(thread, wf, command={"resume": {"approved": True}})
    assert refused.value.response.status_code == 422
    assert "no run of this thread waits" in refused.value.response.json()["message"]

    [c async for c in client.runs.stream(thread, wf, input={"release": "v2"})]  # pauses again
    answered = await client.runs.wait(thread, wf, command={"resume": {"approved": False, "comment": "not today"}})
    assert answered == {"output": "held: not today"}
