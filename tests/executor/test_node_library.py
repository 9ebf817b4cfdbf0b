"""Node library unit tests: agent and its tools, text splitter, summarize, web loader. No services needed."""

import asyncio
import http.server
import threading

import pytest

from services.common import outbound
from services.common.flowgraph import Limits
from services.executor.engine.compile import compile_workflow
from services.executor.nodes import base, documents
from services.executor.nodes.agents import Agent
from services.executor.nodes.base import NodeContext, NodeError, ParamError, registry
from services.executor.nodes.documents import Summarize, TextSplitter, WebLoader, split_text
from services.executor.nodes.tools import CalculatorError, ToolSpec, build, calculate
from services.workflow.builtin_templates import BY_ID

LLM = {"model": "offline-echo"}


def context(value, events: list | None = None, messages: list | None = None) -> NodeContext:
    sink = events if events is not None else []
    return NodeContext(node_id="n", input=value, inputs={}, outputs={}, run_input=value, memory={},
                       messages=messages or [], emit=lambda kind, payload: sink.append((kind, payload)))


def tokens(events: list) -> str:
    assert events and all(kind == "token" for kind, _ in events)
    return "".join(payload["text"] for _, payload in events)


# --- catalog and built-in templates ---------------------------------------------------------------------

def test_new_nodes_are_in_their_categories():
    kinds = registry()
    expected = {"agent": "agents", "text_splitter": "retrieval", "summarize": "chains", "web_loader": "retrieval"}
    for node_type, category in expected.items():
        assert kinds[node_type].category == category


@pytest.mark.parametrize("slug", ["tool-agent", "summarize-document"])
def test_builtin_templates_compile(slug):
    template = BY_ID[f"builtin:{slug}"]
    compiled = compile_workflow(template.flow_data, Limits(500, 2000, 10**6))
    for spec in template.flow_data["nodes"]:
        required = registry()[spec["type"]].params_schema.get("required", [])
        assert set(required) <= set(spec["data"]), (spec["type"], required)
    assert compiled.end_ids == {"end"}


class _Run:
    """Just what a compiled graph's steps use of engine.run.RunContext."""

    def __init__(self, run_input):
        self.run_input, self.messages, self.events = run_input, [], []

    def emitter(self, node_id):
        return lambda kind, payload: self.events.append((node_id, kind, payload))

    async def execute_node(self, node, ctx, policy):
        return await node.run(ctx)


async def test_tool_agent_template_runs_end_to_end():
    compiled = compile_workflow(BY_ID["builtin:tool-agent"].flow_data, Limits(500, 2000, 10**6))
    run = _Run("What is 6 * 7?")
    state = await compiled.graph.ainvoke({}, {"recursion_limit": compiled.recursion_limit}, context=run)
    assert state["outputs"]["end"] == "Echo: What is 6 * 7?"
    assert "".join(p["text"] for node, kind, p in run.events if node == "agent" and kind == "token") \
        == "Echo: What is 6 * 7?"


async def test_summarize_document_template_runs_end_to_end(monkeypatch):
    async def fetch(url):  # no internet here: the page comes from this test
        import httpx

        return outbound.Fetched(url, 200, httpx.Headers({"content-type": "text/html"}), PAGE, False)

    monkeypatch.setattr(documents, "fetch_page", fetch)
    compiled = compile_workflow(BY_ID["builtin:summarize-document"].flow_data, Limits(500, 2000, 10**6))
    run = _Run(None)
    state = await compiled.graph.ainvoke({}, {"recursion_limit": compiled.recursion_limit}, context=run)
    assert state["outputs"]["load"]["metadata"] == {"url": "https://example.com", "title": "Test page"}
    assert state["outputs"]["split"] == [{"content": "Hello\n\nFirst & only paragraph.\n\none\n\ntwo",
                                          "metadata": {"url": "https://example.com", "title": "Test page",
                                                       "chunk": 0}}]
    assert state["outputs"]["end"] == "Echo: Hello\n\nFirst & only paragraph.\n\none\n\ntwo"
    assert "".join(p["text"] for node, kind, p in run.events if node == "summarize") == state["outputs"]["end"]


# --- calculator -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("expression", "value"), [
    ("1 + 2 * 3", 7), ("(1 + 2) * 3", 9), ("-2 ** 2", -4), ("(-2) ** 2", 4), ("7 // 2", 3), ("7 % 4", 3),
    ("7 / 2", 3.5), ("2 ** 10", 1024), ("2 ** -1", 0.5), ("1.5 * 4", 6.0), ("--3", 3), ("2 ** 1000", 2 ** 1000),
])
def test_calculator_evaluates_arithmetic(expression, value):
    assert calculate(expression) == value


@pytest.mark.parametrize("expression", [
    "__import__('os')", "__import__('os').system('true')", "open('/etc/passwd')", "x + 1", "'a' * 3",
    "[1, 2]", "1 if 1 else 2", "(1).__class__", "True + 1", "1j", "lambda: 1", "1; 2", "1 < 2", "",
])
def test_calculator_refuses_anything_but_arithmetic(expression):
    with pytest.raises(CalculatorError):
        calculate(expression)


@pytest.mark.parametrize("expression", [
    "9 ** 9 ** 9", "2 ** 100000", "10 ** -5000", "(10 ** 900) ** 900", "(2 ** 1000) ** 1000",
    "2 ** 1000 * 2 ** 1000 * 2 ** 1000 * 2 ** 1000 * 2 ** 1000 * 2 ** 1000 * 2 ** 1000 * 2 ** 1000 * 2 ** 1000 "
    "* 2 ** 1000 * 2 ** 1000", "1e308 * 10", "10.0 ** 400", "(-8) ** 0.5", "1 / 0", "5 % 0",
    "-" * 995 + "1", "(" * 300 + "1" + ")" * 300, "1" * 2000,
])
def test_calculator_bounds_its_work(expression):
    with pytest.raises(CalculatorError):
        calculate(expression)


def test_calculator_tool_answers_errors_as_text():
    tool = build(ToolSpec("calculator", "calculator"), context(None))
    assert tool.invoke({"expression": "(2 + 3) * 4"}) == "20"
    assert tool.invoke({"expression": "__import__('os')"}).startswith("Error: ")


# --- agent ----------------------------------------------------------------------------------------------

async def test_agent_answers_with_the_offline_model_and_streams_tokens():
    node = Agent("agent", {**LLM, "system_prompt": "Be brief.", "tools": ["calculator", "web_search"],
                           "max_steps": 3})
    events: list = []
    result = await node.run(context("What is 2 + 2?", events))
    assert result.output == "Echo: What is 2 + 2?"
    assert tokens(events) == result.output and len(events) > 1


async def test_agent_sees_the_thread():
    events: list = []
    result = await Agent("agent", {**LLM}).run(context("again", events, [
        {"role": "user", "content": "hi"}, {"role": "assistant", "content": "Echo: hi"}]))
    assert result.output == "Echo (turn 2): again"


CALCULATE = {"tool_calls": [{"name": "calculator", "args": {"expression": "6 * 7"}}]}


async def test_agent_calls_tools_and_streams_only_the_answer():
    events: list = []
    # One round of tool calls, then the answer.
    script = [CALCULATE, "The answer is {tool_results}."]
    result = await Agent("agent", {**LLM, "script": script, "tools": ["calculator"], "max_steps": 1}).run(
        context("6 times 7?", events))
    assert result.output == "The answer is 42."
    assert [kind for kind, _ in events][:2] == ["tool_call", "tool_result"]
    assert events[0][1]["args"] == {"expression": "6 * 7"} and events[1][1]["output"] == "42"
    assert tokens(events[2:]) == "The answer is 42."


async def test_agent_gives_up_after_max_steps():
    with pytest.raises(NodeError, match="max_iterations"):
        await Agent("agent", {**LLM, "script": [CALCULATE] * 5, "tools": ["calculator"], "max_steps": 2}).run(
            context("loop"))


@pytest.mark.parametrize(("params", "field"), [
    ({"model": "gpt-4o"}, "credential"), ({}, "model"), ({"model": "mystery"}, "provider"), ({**LLM, "tools": ["calculator", "shell"]}, "tools[1]"),
    ({**LLM, "tools": "calculator"}, "tools"), ({**LLM, "max_steps": 0}, "max_steps"),
    ({**LLM, "max_steps": 51}, "max_steps"), ({**LLM, "system_prompt": 3}, "system_prompt"),
])
def test_agent_params_are_checked(params, field):
    with pytest.raises(ParamError) as caught:
        Agent("agent", params)
    assert caught.value.field == field


# --- text splitter --------------------------------------------------------------------------------------

TEXT = "\n\n".join(f"Paragraph {p}. " + " ".join(f"word{p}_{w}" for w in range(30)) for p in range(8))


@pytest.mark.parametrize(("size", "overlap"), [(1000, 100), (200, 50), (50, 0), (37, 10), (5, 2), (1, 0)])
def test_text_splitter_respects_chunk_size_and_keeps_all_text(size, overlap):
    chunks = split_text(TEXT, size, overlap)
    assert chunks and all(len(c) <= size for c in chunks)
    words = TEXT.split()
    if size >= max(len(w) for w in words):
        assert all(word in " ".join(chunks).split() for word in words)
        assert [w for w in " ".join(chunks).split() if w in words][0] == words[0]


def test_text_splitter_cuts_at_paragraphs_first_and_overlaps():
    text = "alpha beta gamma\n\ndelta epsilon\n\nzeta eta theta"
    assert split_text(text, 31, 0) == ["alpha beta gamma\n\ndelta epsilon", "zeta eta theta"]
    overlapping = split_text("one two three four five six seven eight", 15, 10)
    assert all(len(c) <= 15 for c in overlapping)
    assert overlapping[0] == "one two three" and overlapping[1].startswith("two three")
    assert split_text("short", 100, 10) == ["short"]
    assert split_text("  \n\n ", 10, 0) == []


async def test_text_splitter_node_outputs_documents():
    node = TextSplitter("split", {"chunk_size": 200, "chunk_overlap": 20})
    out = (await node.run(context(TEXT))).output
    assert [c["metadata"]["chunk"] for c in out] == list(range(len(out))) and len(out) > 3
    assert all(set(c) == {"content", "metadata"} and len(c["content"]) <= 200 for c in out)
    docs = [{"content": "a " * 150, "metadata": {"url": "https://a"}}, {"content": "b b", "metadata": {}}]
    out = (await node.run(context(docs))).output
    assert out[0]["metadata"] == {"url": "https://a", "chunk": 0}
    assert out[-1] == {"content": "b b", "metadata": {"chunk": len(out) - 1}}
    assert (await TextSplitter("s", {}).run(context({"content": "x", "metadata": {}}))).output \
        == [{"content": "x", "metadata": {"chunk": 0}}]


@pytest.mark.parametrize(("params", "field"), [
    ({"chunk_size": 0}, "chunk_size"), ({"chunk_size": 100001}, "chunk_size"), ({"chunk_size": "10"}, "chunk_size"),
    ({"chunk_size": 100, "chunk_overlap": 100}, "chunk_overlap"), ({"chunk_size": 100, "chunk_overlap": -1},
                                                                   "chunk_overlap"),
])
def test_text_splitter_params_are_checked(params, field):
    with pytest.raises(ParamError) as caught:
        TextSplitter("split", params)
    assert caught.value.field == field


# --- summarize ------------------------------------------------------------------------------------------

async def test_summarize_map_reduce_with_the_offline_model():
    chunks = (await TextSplitter("split", {"chunk_size": 200, "chunk_overlap": 0}).run(context(TEXT))).output
    events: list = []
    result = await Summarize("sum", {**LLM, "strategy": "map_reduce"}).run(context(chunks, events))
    # The offline model echoes: the combined summary echoes every chunk's summary, in order.
    assert result.output == "Echo: " + "\n\n".join(f"Echo: {c['content']}" for c in chunks)
    assert tokens(events) == result.output


async def test_summarize_stuff_and_errors():
    events: list = []
    result = await Summarize("sum", {**LLM}).run(context(["one", {"content": "two", "metadata": {}}], events))
    assert result.output == "Echo: one\n\ntwo" and tokens(events) == result.output
    with pytest.raises(NodeError, match="no text"):
        await Summarize("sum", LLM).run(context([]))
    for params, field in [({"model": "gpt-4o"}, "credential"), ({**LLM, "strategy": "refine"}, "strategy")]:
        with pytest.raises(ParamError) as caught:
            Summarize("sum", params)
        assert caught.value.field == field


# --- web loader -----------------------------------------------------------------------------------------

PAGE = (b"<html><head><title>Test  page</title><style>p{color:red}</style></head><body><h1>Hello</h1>"
        b"<p>First &amp; only paragraph.</p><script>alert('x')</script><ul><li>one</li><li>two</li></ul>"
        b"</body></html>")


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        redirects = {"/redirect": "/page", "/loop": "/loop", "/to-metadata": "http://169.254.169.254/latest/",
                     "/to-file": "file:///etc/passwd"}
        if self.path in redirects:
            self.send_response(302)
            self.send_header("Location", redirects[self.path])
            self.end_headers()
            return
        if self.path == "/big":
            body, kind = b"x" * (3 * 1024 * 1024), "text/plain"
        elif self.path == "/image":
            body, kind = b"\x89PNG", "image/png"
        elif self.path == "/page":
            body, kind = PAGE, "text/html; charset=utf-8"
        else:
            body, kind = b"missing", "text/plain"
        self.send_response(200 if self.path != "/missing" else 404)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Seen-Host", self.headers.get("Host", ""))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def local_site():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def private_networks(monkeypatch):
    monkeypatch.setattr(base, "_outbound_policy", outbound.Policy(allow_private=True))


async def load(url: str) -> dict:
    return (await WebLoader("load", {"url": url}).run(context(None))).output


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/", "http://169.254.169.254/latest/meta-data/", "http://localhost:8080/", "http://10.0.0.1/",
    "http://[::1]/", "http://[fd00:ec2::254]/", "http://[::ffff:127.0.0.1]/", "http://0.0.0.0/",
    "http://100.64.0.1/", "http://224.0.0.1/",
])
async def test_web_loader_refuses_non_public_addresses(url):
    with pytest.raises(NodeError, match="refusing"):
        await load(url)


async def test_web_loader_refuses_the_local_site_by_default(local_site):
    with pytest.raises(NodeError, match="loopback"):
        await load(local_site + "/page")


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/x", "gopher://a", "http://", "example.com"])
def test_web_loader_takes_only_http_urls(url):
    with pytest.raises(ParamError) as caught:
        WebLoader("load", {"url": url})
    assert caught.value.field == "url"


async def test_web_loader_fetches_and_strips_html_where_private_networks_are_allowed(local_site, private_networks):
    document = await load(local_site + "/redirect")
    assert document == {"content": "Hello\n\nFirst & only paragraph.\n\none\n\ntwo",
                        "metadata": {"url": local_site + "/page", "title": "Test page"}}


async def test_web_loader_limits(local_site, private_networks):
    big = await load(local_site + "/big")
    assert len(big["content"]) == 2 * 1024 * 1024 and big["metadata"]["truncated"] is True
    with pytest.raises(NodeError, match="metadata"):
        await load(local_site + "/to-metadata")  # re-checked on redirect, even here
    with pytest.raises(NodeError, match="only http and https"):
        await load(local_site + "/to-file")
    with pytest.raises(NodeError, match="too many redirects"):
        await load(local_site + "/loop")
    with pytest.raises(NodeError, match="HTTP 404"):
        await load(local_site + "/missing")
    with pytest.raises(NodeError, match="image/png"):
        await load(local_site + "/image")
    with pytest.raises(NodeError, match="metadata"):
        await load("http://169.254.169.254/")


async def test_web_loader_keeps_the_host_name(private_networks, monkeypatch):
    seen = {}

    async def send(self, request, **kwargs):
        import httpx

        seen.update(url=str(request.url), host=request.headers["host"], sni=request.extensions.get("sni_hostname"))
        return httpx.Response(200, headers={"content-type": "text/plain"}, content=b"ok", request=request)

    monkeypatch.setattr("httpx.AsyncClient.send", send)
    assert (await load("https://localhost:8443/a?b=1"))["content"] == "ok"
    assert seen["host"] == "localhost:8443" and seen["sni"] == "localhost"
    assert seen["url"] in ("https://127.0.0.1:8443/a?b=1", "https://[::1]:8443/a?b=1")


async def test_web_loader_times_out(monkeypatch, local_site, private_networks):
    monkeypatch.setattr(documents, "FETCH_SECONDS", 0.05)

    async def slow(url):
        await asyncio.sleep(1)

    monkeypatch.setattr(documents, "fetch_page", slow)
    with pytest.raises(NodeError, match="took longer"):
        await load(local_site + "/page")
