"""Agent tools on their own: the HTTP request tool behind the outbound guard (addresses, redirects, names that
resolve to internal addresses, limits), web search through Tavily and Brave (fake servers), current time."""

import ipaddress

import pytest

from services.common import outbound
from services.executor.nodes import base
from services.executor.nodes.base import NodeContext, ParamError
from services.executor.nodes.tools import ToolSpec, build, tool_specs
from tests.fakes.providers import FakeProviders, serve
from tests.fakes.servers import QuietServer


@pytest.fixture(scope="module")
async def site():
    """The fake site twice: on 127.0.0.1 and on 127.0.0.2 (another loopback address, allowed on its own)."""
    fake = FakeProviders()
    url, server, task = await serve(fake.app)
    import uvicorn

    config = uvicorn.Config(fake.app, host="127.0.0.2", port=0, loop="asyncio", access_log=False, log_level="warning",
                            lifespan="off")
    other = QuietServer(config)
    import asyncio

    other_task = asyncio.get_running_loop().create_task(other.serve())
    while not other.started:
        await asyncio.sleep(0.01)
    fake.url, fake.other = url, f"http://127.0.0.2:{other.servers[0].sockets[0].getsockname()[1]}"
    yield fake
    server.should_exit = other.should_exit = True
    await task
    await other_task


class Services:
    async def secret(self, ref):
        return {"tavily": "tvly-fake-key", "brave": "brave-fake-key"}[ref.service_type]


def tool(settings: dict | str):
    (spec,) = tool_specs([settings])
    ctx = NodeContext(node_id="agent", input=None, inputs={}, outputs={}, run_input=None, memory={}, messages=[],
                      emit=lambda *a: None, services=Services())
    return build(spec, ctx)


def allow(monkeypatch, *networks: str) -> None:
    monkeypatch.setattr(base, "_outbound_policy", outbound.Policy.of(False, list(networks)))


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/", "http://169.254.169.254/latest/meta-data/",
                                 "http://localhost:9/", "http://[::1]:9/", "http://10.1.2.3/"])
async def test_http_tool_refuses_internal_addresses_by_default(url, monkeypatch):
    allow(monkeypatch)
    assert (await tool("http_request").ainvoke({"url": url})).startswith("Error: refusing to connect")


async def test_http_tool_reaches_an_allowed_network_and_rechecks_every_redirect(site, monkeypatch):
    allow(monkeypatch, "127.0.0.2/32")
    http = tool({"type": "http_request", "methods": ["GET"], "max_response_bytes": 100})
    assert await http.ainvoke({"url": site.other + "/site/hello"}) == "HTTP 200\npage hello"
    # 127.0.0.2 is allowed, but a redirect from it to 127.0.0.1 or to the metadata address is not.
    to_loopback = await http.ainvoke({"url": f"{site.other}/site/redirect?to={site.url}/site/secret"})
    assert to_loopback.startswith("Error: refusing to connect to 127.0.0.1")
    to_metadata = await http.ainvoke({"url": f"{site.other}/site/redirect?to=http://169.254.169.254/latest"})
    assert "cloud metadata" in to_metadata
    assert (await http.ainvoke({"url": site.other + "/site/big"})).endswith("[cut at 100 bytes]")
    assert (await http.ainvoke({"url": site.other + "/site/x", "method": "POST"})).startswith(
        "Error: method POST is not allowed")


async def test_http_tool_refuses_names_that_resolve_to_internal_addresses(monkeypatch):
    allow(monkeypatch, "127.0.0.0/8")  # even with loopback allowed, metadata stays refused

    async def resolve(host, port):
        return [ipaddress.ip_address("93.184.216.34"), ipaddress.ip_address("169.254.169.254")]

    monkeypatch.setattr(outbound, "_resolve", resolve)
    answer = await tool("http_request").ainvoke({"url": "http://rebinding.example/"})
    assert answer == "Error: refusing to connect to rebinding.example: 169.254.169.254 is a cloud metadata address"


async def test_web_search_through_tavily_and_brave(site, monkeypatch):
    import json

    allow(monkeypatch, "127.0.0.1/32")
    tavily = tool({"type": "web_search", "provider": "tavily", "credential": {"service_type": "tavily", "name": "k"},
                   "base_url": site.url + "/tavily", "max_results": 2})
    results = json.loads(await tavily.ainvoke({"query": "agents"}))
    assert [r["title"] for r in results] == ["Result 1 for agents", "Result 2 for agents"]
    brave = tool({"type": "web_search", "provider": "brave", "credential": {"service_type": "brave", "name": "k"},
                  "base_url": site.url + "/brave", "max_results": 3})
    results = json.loads(await brave.ainvoke({"query": "graphs"}))
    assert len(results) == 3 and results[0] == {"title": "Brave 1: graphs", "url": "https://example.org/1",
                                                "content": "Page 1"}
    unset = tool({"type": "web_search"})
    assert "not set up" in await unset.ainvoke({"query": "x"})


async def test_current_time_tool():
    now = tool("current_time")
    assert (await now.ainvoke({"timezone": "Europe/Paris"}))[19:] in ("+01:00", "+02:00")
    assert "unknown time zone" in await now.ainvoke({"timezone": "Mars/Olympus"})


@pytest.mark.parametrize(("tools", "field"), [
    (["shell"], "tools[0]"), ("calculator", "tools"), ([{"type": "workflow", "workflow_id": "x"}], "tools[0].workflow_id"),
    ([{"type": "workflow", "workflow_id": "00000000-0000-0000-0000-000000000001", "name": "calculator"}],
     "tools[0].name"),
    ([{"type": "web_search", "provider": "bing"}], "tools[0].provider"),
    ([{"type": "http_request", "timeout_seconds": 600}], "tools[0].timeout_seconds"),
    (["calculator", "calculator"], "tools[1]"),
])
def test_tool_settings_are_checked(tools, field):
    with pytest.raises(ParamError) as caught:
        tool_specs(tools)
    assert caught.value.field == field


def test_tool_spec_defaults():
    assert tool_specs(["calculator"]) == [ToolSpec("calculator", "calculator")]
