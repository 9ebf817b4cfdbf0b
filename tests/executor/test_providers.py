"""Provider chat models: each provider's real LangChain client against the fake provider server (streamed
tokens, usage, the API key it sends, JSON mode, structured output, tool calls, errors), and the base-URL guard."""

import json

import pytest

from services.common import outbound
from services.executor.nodes.agents import Agent
from services.executor.nodes.base import NodeContext, NodeError, ParamError
from services.executor.nodes.chat import ChatModel
from services.executor.nodes.parsers import StructuredOutput
from tests.fakes.providers import INPUT_TOKENS, FakeProviders, serve

KEY = "sk-canary-7f3a9b2c"
BASES = {"openai": "/openai/v1", "openai_compatible": "/openai/v1", "anthropic": "/anthropic", "google": "/google",
         "ollama": "/ollama"}
PROVIDERS = list(BASES)


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
    """The operator's allow-list, as tests need it for their fake servers."""
    monkeypatch.setattr("services.executor.nodes.base._outbound_policy", outbound.Policy.of(False, ["127.0.0.1/32"]))


class Services:
    """What a node sees of its run: credentials (one fixed key) and token usage."""

    def __init__(self):
        self.usage: list[tuple[str, int, int]] = []
        self.resolved = []

    async def secret(self, ref) -> str:
        self.resolved.append(ref)
        return KEY

    def record_usage(self, node_id: str, input_tokens: int, output_tokens: int) -> None:
        self.usage.append((node_id, input_tokens, output_tokens))


def context(value, events: list, services=None) -> NodeContext:
    return NodeContext(node_id="n", input=value, inputs={}, outputs={}, run_input=value, memory={}, messages=[],
                       emit=lambda kind, payload: events.append((kind, payload)), services=services or Services())


def params(fake, provider: str, **extra) -> dict:
    return {"provider": provider, "model": "fake-model", "base_url": fake.url + BASES[provider],
            "credential": {"service_type": provider, "name": "default"}, "request_timeout_seconds": 1, **extra}


def sent_key(headers: dict) -> str:
    return headers.get("x-goog-api-key") or headers.get("authorization", "").removeprefix("Bearer ")


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_chat_model_streams_tokens_records_usage_and_sends_the_key(fake, loopback_allowed, provider):
    events: list = []
    services = Services()
    node = ChatModel("n", params(fake, provider, temperature=0.2, max_tokens=50, stop=["END"]))
    result = await node.run(context("hi there", events, services))
    name = "openai" if provider == "openai_compatible" else provider
    assert result.output == f"Hello from {name}: hi there"
    assert [kind for kind, _ in events] == ["token"] * 5
    assert "".join(p["text"] for _, p in events) == result.output
    assert services.usage == [("n", INPUT_TOKENS, 5)]
    _, headers, body, path = fake.requests[-1]
    assert sent_key(headers) == KEY
    assert services.resolved[0].service_type == provider
    sent = json.dumps(body) + path
    assert "fake-model" in sent and "END" in sent and "50" in sent  # model, stop and max tokens reach the provider


@pytest.mark.parametrize("provider", ["openai", "google", "ollama"])
async def test_json_mode_asks_the_provider_for_json(fake, loopback_allowed, provider):
    result = await ChatModel("n", params(fake, provider, json_mode=True)).run(context("hi", []))
    assert json.loads(result.output) == {"answer": "hi"}


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_structured_output_uses_the_native_mode(fake, loopback_allowed, provider):
    schema = {"type": "object", "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
              "required": ["city", "population"]}
    node = StructuredOutput("n", params(fake, provider, schema=schema))
    result = await node.run(context("Paris", []))
    assert result.output["population"] == 42 and isinstance(result.output["city"], str)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_agent_calls_two_tools_through_each_provider(fake, loopback_allowed, provider):
    events: list = []
    node = Agent("n", params(fake, provider, tools=["calculator", "current_time"], request_timeout_seconds=5))
    result = await node.run(context("use calculator and current_time", events))
    calls = [p["name"] for kind, p in events if kind == "tool_call"]
    results = [p for kind, p in events if kind == "tool_result"]
    assert calls == ["calculator", "current_time"]
    assert results[0]["output"] == "42" and results[1]["output"].startswith("20")
    assert result.output.startswith("Tool said: ") and "42" in result.output


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(("trigger", "code", "retryable", "retry_after"), [
    ("FAIL401", "PROVIDER_AUTH", False, 0), ("FAIL429", "PROVIDER_RATE_LIMITED", True, 1),
    ("FAIL500", "PROVIDER_UNAVAILABLE", True, 0), ("SLOW", "PROVIDER_TIMEOUT", True, 0),
])
async def test_provider_errors_become_clear_node_errors(fake, loopback_allowed, provider, trigger, code, retryable,
                                                        retry_after):
    with pytest.raises(NodeError) as caught:
        await ChatModel("n", params(fake, provider)).run(context(trigger, []))
    assert caught.value.code == code and caught.value.retryable is retryable
    assert caught.value.retry_after == retry_after
    assert KEY not in str(caught.value)


async def test_provider_base_urls_pass_the_outbound_guard(fake):
    # Without the operator's allow-list, a workflow cannot point a model at loopback or metadata addresses.
    for base in (fake.url + "/openai/v1", "http://169.254.169.254/v1", "http://localhost:11434"):
        node = ChatModel("n", {"provider": "openai_compatible", "model": "m", "base_url": base})
        with pytest.raises(NodeError, match="refusing") as caught:
            await node.run(context("hi", []))
        assert caught.value.code == "UNSAFE_URL"
    assert not any(base in json.dumps(r[2]) for r in fake.requests for base in ("169.254",))


@pytest.mark.parametrize(("extra", "field"), [
    ({"model": "gpt-4o"}, "credential"), ({"model": "claude-3-5-haiku"}, "credential"),
    ({"model": "gemini-2.0-flash"}, "credential"), ({"model": "llama3"}, "provider"),
    ({"provider": "openai_compatible", "model": "m"}, "base_url"),
    ({"provider": "ollama", "model": "m", "base_url": "file:///etc/passwd"}, "base_url"),
    ({"provider": "anthropic", "model": "m", "credential": "c1", "json_mode": True}, "json_mode"),
    ({"provider": "openai", "model": "m", "credential": "c1", "script": ["x"]}, "script"),
    ({"provider": "openai", "model": "m", "credential": {"service_type": "openai"}}, "credential"),
    ({"provider": "openai", "model": "m", "credential": "c1", "stop": "x"}, "stop"),
    ({"provider": "openai", "model": "m", "credential": "c1", "max_tokens": 0}, "max_tokens"),
    ({"provider": "nope", "model": "m"}, "provider"), ({"provider": "openai", "model": "offline-echo"}, "provider"),
])
def test_model_params_are_checked(extra, field):
    with pytest.raises(ParamError) as caught:
        ChatModel("n", extra)
    assert caught.value.field == field


@pytest.mark.parametrize("provider", ["openai_compatible", "ollama"])
async def test_a_base_url_name_that_rebinds_to_a_refused_address_is_refused_at_connect(fake, monkeypatch, provider):
    """DNS rebinding: the name resolves to a public address when the base URL is checked and to loopback (refused
    by the default policy) when the provider's client connects. The client's transport checks again at connect."""
    monkeypatch.setattr("services.executor.nodes.base._outbound_policy", outbound.Policy.of(False, []))
    answers = iter([["93.184.216.34"]])  # the check; every later lookup answers loopback

    async def resolve(host, port):
        import ipaddress

        return [ipaddress.ip_address(a) for a in next(answers, ["127.0.0.1"])]

    monkeypatch.setattr(outbound, "_resolve", resolve)
    port = fake.url.rsplit(":", 1)[1]
    seen = len(fake.requests)
    node = ChatModel("n", {**params(fake, provider), "base_url": f"http://localhost:{port}{BASES[provider]}"})
    with pytest.raises(NodeError, match="cannot reach|refusing"):
        await node.run(context("hi", []))
    assert len(fake.requests) == seen  # nothing reached the loopback server
