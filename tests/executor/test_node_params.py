"""Every node type: a bad-parameter test (the field named), and a happy path for the nodes of the library
(the control nodes' happy paths run in test_engine, web_loader's and the agent's in test_node_library)."""

import json

import pytest

from services.executor.nodes.base import NodeContext, NodeError, ParamError, registry

OFFLINE = {"model": "offline-test"}

BAD = {
    "start": None, "end": None, "merge": None,  # no parameters
    "condition": ({"expression": "1 +"}, "expression"),
    "router": ({"routes": []}, "routes"),
    "loop": ({"max_iterations": 0}, "max_iterations"),
    "template": ({"template": "{% for %}"}, "template"),
    "human_approval": ({}, "prompt"),
    "sub_workflow": ({}, "workflow_id"),
    "delay": ({"seconds": -1}, "seconds"),
    "chat_model": ({"model": "offline-x", "temperature": 3}, "temperature"),
    "chat_memory": ({"window": 0}, "window"),
    "buffer_memory": ({"max_messages": 101}, "max_messages"),
    "summary_memory": ({**OFFLINE, "max_tokens_budget": 1}, "max_tokens_budget"),
    "agent": ({**OFFLINE, "tools": [{"type": "http_request", "methods": ["TRACE"]}]}, "tools[0].methods"),
    "text_splitter": ({"chunk_size": 0}, "chunk_size"),
    "summarize": ({**OFFLINE, "strategy": "refine"}, "strategy"),
    "web_loader": ({"url": "file:///etc/passwd"}, "url"),
    "prompt_template": ({"template": "Hello {name"}, "template"),
    "llm_chain": ({**OFFLINE}, "prompt"),
    "sequential_chain": ({**OFFLINE, "steps": [{"prompt": "a", "output_key": "x"}, {"prompt": "b", "output_key": "x"}]},
                         "steps[1].output_key"),
    "json_parser": ({"schema": {"type": "nonsense"}}, "schema"),
    "structured_output": ({**OFFLINE, "schema": {"type": "string"}}, "schema"),
    "regex_parser": ({"pattern": "(unclosed"}, "pattern"),
    "list_parser": ({"separator": ""}, "separator"),
    "vector_retriever": ({"collection_id": "0b9c6c58-5f4e-4a8e-9d0f-3c1a2b4d5e6f", "top_k": 0}, "top_k"),
    "rag_evaluation": ({"retriever": "x" * 201}, "retriever"),
}


def library() -> set[str]:
    """The registered node types of the product (tests register a few of their own)."""
    return {t for t, cls in registry().items() if cls.__module__.startswith("services.executor.nodes.")}


def test_every_node_type_has_a_bad_parameter_case():
    assert set(BAD) == library()


@pytest.mark.parametrize("node_type", sorted(k for k, v in BAD.items() if v is not None))
def test_bad_parameters_name_the_field(node_type):
    params, field = BAD[node_type]
    with pytest.raises(ParamError) as caught:
        registry()[node_type]("n", params)
    assert caught.value.field == field


def context(value, messages=None, events=None, run_input=None) -> NodeContext:
    sink = events if events is not None else []
    return NodeContext(node_id="n", input=value, inputs={}, outputs={"a": 1}, run_input=run_input, memory={},
                       messages=messages if messages is not None else [],
                       emit=lambda kind, payload: sink.append((kind, payload)))


async def run(node_type: str, params: dict, value, **kwargs):
    return (await registry()[node_type]("n", params).run(context(value, **kwargs))).output


THREAD = [{"role": "user", "content": "one " * 40}, {"role": "assistant", "content": "two"},
          {"role": "user", "content": "three"}, {"role": "assistant", "content": "four"}]


async def test_prompt_template_fills_names_as_data():
    output = await run("prompt_template", {"template": "Q: {question} ({lang}) {{literal}}"},
                       {"question": "{lang} {{ 7*7 }}"}, run_input={"lang": "en"})
    assert output == "Q: {lang} {{ 7*7 }} (en) {literal}"  # a value is never filled or evaluated again
    with pytest.raises(NodeError, match="needs question"):
        await run("prompt_template", {"template": "Q: {question}"}, "just text")


async def test_llm_chain_and_sequential_chain():
    events: list = []
    output = await run("llm_chain", {**OFFLINE, "prompt": "Translate: {input}"}, "chat", events=events)
    assert output == "Echo: Translate: chat" and "".join(p["text"] for _, p in events) == output
    steps = [{"prompt": "draft {input}", "output_key": "draft"}, {"prompt": "polish {draft}", "output_key": "final"}]
    assert await run("sequential_chain", {**OFFLINE, "steps": steps}, "idea") == "Echo: polish Echo: draft idea"
    assert await run("sequential_chain", {**OFFLINE, "steps": steps, "return_all": True}, "idea") == {
        "draft": "Echo: draft idea", "final": "Echo: polish Echo: draft idea"}


async def test_map_reduce_summarize_over_chunks():
    chunks = [{"content": "alpha", "metadata": {}}, {"content": "beta", "metadata": {}}]
    output = await run("summarize", {"model": "offline-sum", "strategy": "map_reduce"}, chunks)
    assert output == "Echo: Echo: alpha\n\nEcho: beta"


async def test_memory_nodes_shape_the_thread():
    messages = list(THREAD)
    assert await run("buffer_memory", {"max_messages": 3}, "in", messages=messages) == "in"
    assert messages == THREAD[1:]
    messages = list(THREAD)
    await run("chat_memory", {"window": 1}, "in", messages=messages)
    assert messages == THREAD[-1:]
    messages, events = list(THREAD), []
    await run("summary_memory", {"model": "offline-s", "script": ["S"], "max_tokens_budget": 20, "keep_last": 2},
              "in", messages=messages, events=events)
    assert messages == [{"role": "system", "content": "Summary of the earlier conversation: S"}, *THREAD[2:]]
    assert events == [("memory_summarized", {"messages": 2})]
    messages = THREAD[2:]  # under the budget: unchanged
    await run("summary_memory", {"model": "offline-s", "max_tokens_budget": 20}, "in", messages=messages)
    assert messages == THREAD[2:]


SCHEMA = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}


async def test_json_parser_with_schema_and_one_repair():
    assert await run("json_parser", {"schema": SCHEMA}, 'Here:\n```json\n{"n": 3}\n```') == {"n": 3}
    with pytest.raises(NodeError, match="does not match the schema at n"):
        await run("json_parser", {"schema": SCHEMA}, '{"n": "three"}')
    with pytest.raises(NodeError, match="not valid JSON"):
        await run("json_parser", {}, "{nope")
    events: list = []
    repaired = await run("json_parser", {"schema": SCHEMA, "repair_model": {"model": "offline-fix", "script": ['{"n": 4}']}},
                         "{n: 4}", events=events)
    assert repaired == {"n": 4} and events[0][0] == "repair_attempt"
    with pytest.raises(NodeError, match="the repair attempt is"):
        await run("json_parser", {"schema": SCHEMA, "repair_model": {"model": "offline-fix", "script": ["still bad"]}},
                  "{n: 4}")


async def test_structured_output_with_the_offline_model():
    params = {"model": "offline-json", "schema": SCHEMA, "script": ['{"n": 7}']}
    assert await run("structured_output", params, "seven") == {"n": 7}
    with pytest.raises(NodeError, match="not valid JSON"):
        await run("structured_output", {**params, "script": ["seven"]}, "seven")


async def test_regex_and_list_parsers():
    assert await run("regex_parser", {"pattern": r"(?P<key>\w+)=(?P<value>\d+)"}, "a=1 b=2") == {"key": "a", "value": "1"}
    assert await run("regex_parser", {"pattern": r"(\d+)", "all": True}, "a=1 b=22") == ["1", "22"]
    with pytest.raises(NodeError, match="does not match"):
        await run("regex_parser", {"pattern": "z+"}, "abc")
    # Catastrophic backtracking is cut off by the time limit (it would take hours), as a clear node error.
    for extra in ({}, {"all": True}):
        with pytest.raises(NodeError, match="took longer than 0.5 s"):
            await run("regex_parser", {"pattern": r"(a|aa)+$", **extra}, "a" * 60 + "b")
    assert await run("list_parser", {}, "1. apples\n- pears\n\n* plums") == ["apples", "pears", "plums"]
    assert await run("list_parser", {"separator": ",", "max_items": 2}, "a, b, c") == ["a", "b"]


async def test_offline_model_usage_is_reported(monkeypatch):
    from services.executor.nodes.llms import OfflineChatModel

    reply = OfflineChatModel(script=["one two three"])._reply([])
    assert reply.usage_metadata["output_tokens"] == 3 and json.loads(json.dumps(reply.usage_metadata))
