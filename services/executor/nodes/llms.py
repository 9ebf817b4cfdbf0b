"""Chat models: the providers (through their LangChain clients) and the built-in scripted offline model.

A node's model parameters become a `ModelSpec` when the graph is compiled (so bad parameters fail the run
before it starts); `chat_model` builds the LangChain model for one node run: it resolves the credential for
the run, checks a workflow's base URL against the outbound guard, and records token usage. Provider errors
become `NodeError`s with a code, whether a retry can help, and the provider's Retry-After (`provider_errors`).
The clients' own retries are off: the node's retry policy decides.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
from langchain_core.callbacks import AsyncCallbackHandler
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult, LLMResult

from services.common import outbound
from services.executor.nodes.base import (
    NodeContext,
    NodeError,
    ParamError,
    check_base_url,
    guarded_http_client,
    guarded_transport,
    int_param,
    number_param,
    text_param,
)

# --- the offline model -----------------------------------------------------------------------------------

_TOKEN = re.compile(r"\S+\s*|\s+")


def _text(message: BaseMessage) -> str:
    return message.content if isinstance(message.content, str) else json.dumps(message.content, default=str)


class OfflineChatModel(BaseChatModel):
    """A deterministic chat model that needs no network, for demos and tests; it streams token by token.

    Without a script it answers "Echo: <last user message>" ("Echo (turn N): ..." later in a conversation).
    With a script, the i-th model turn after the last user message plays the script's i-th step: a text
    answer, or {"text"?, "tool_calls": [{"name", "args"}]} to call tools (an agent then runs them and asks
    again). In texts, {input} is the last user message, {tool_results} the tool results since it, {history}
    the earlier user messages and {system} the system messages (plain replacement, no template language). Past the script's end it
    echoes. Usage counts words: input = words of the conversation, output = tokens of the answer.
    """

    model: str = "offline-echo"
    script: list = []
    tool_names: tuple[str, ...] = ()

    @property
    def _llm_type(self) -> str:
        return "offline"

    def bind_tools(self, tools: Any, **kwargs: Any) -> OfflineChatModel:
        names = tuple(getattr(t, "name", None) or (t.get("name") if isinstance(t, dict) else str(t)) for t in tools)
        return self.model_copy(update={"tool_names": names})

    def _reply(self, messages: list[BaseMessage]) -> AIMessage:
        users = [i for i, m in enumerate(messages) if isinstance(m, HumanMessage)]
        last_user = users[-1] if users else -1
        since = messages[last_user + 1:]
        turn = sum(isinstance(m, AIMessage) for m in since)
        text_in = _text(messages[last_user]) if users else ""
        step = self.script[turn] if turn < len(self.script) else None
        calls = []
        if step is None:
            answer = f"Echo: {text_in}" if len(users) <= 1 else f"Echo (turn {len(users)}): {text_in}"
        else:
            answer = step if isinstance(step, str) else str(step.get("text", ""))
            for n, call in enumerate([] if isinstance(step, str) else step.get("tool_calls", [])):
                calls.append({"name": call["name"], "args": call.get("args", {}), "id": f"call_{turn}_{n}",
                              "type": "tool_call"})
            results = "; ".join(_text(m) for m in since if isinstance(m, ToolMessage))
            history = " | ".join(_text(messages[i]) for i in users[:-1])
            system = " | ".join(_text(m) for m in messages if isinstance(m, SystemMessage))
            for name, value in (("input", text_in), ("tool_results", results), ("history", history), ("system", system)):
                answer = answer.replace("{" + name + "}", value)
        words = sum(len(_text(m).split()) for m in messages)
        usage = {"input_tokens": words, "output_tokens": len(_TOKEN.findall(answer)) + len(calls),
                 "total_tokens": 0}
        usage["total_tokens"] = usage["input_tokens"] + usage["output_tokens"]
        return AIMessage(content=answer, tool_calls=calls, usage_metadata=usage)

    def _generate(self, messages, stop=None, run_manager=None, **kwargs: Any) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._reply(messages))])

    def _chunks(self, messages) -> Iterator[AIMessageChunk]:
        reply = self._reply(messages)
        tokens = _TOKEN.findall(reply.content)
        for token in tokens:
            yield AIMessageChunk(content=token)
        yield AIMessageChunk(content="", usage_metadata=reply.usage_metadata, tool_call_chunks=[
            {"name": c["name"], "args": json.dumps(c["args"]), "id": c["id"], "index": n}
            for n, c in enumerate(reply.tool_calls)], chunk_position="last")

    def _stream(self, messages, stop=None, run_manager=None, **kwargs) -> Iterator[ChatGenerationChunk]:
        for chunk in self._chunks(messages):
            yield ChatGenerationChunk(message=chunk)

    async def _astream(self, messages, stop=None, run_manager=None, **kwargs) -> AsyncIterator[ChatGenerationChunk]:
        for n, chunk in enumerate(self._chunks(messages), 1):
            if run_manager and chunk.content:
                await run_manager.on_llm_new_token(chunk.content, chunk=ChatGenerationChunk(message=chunk))
            yield ChatGenerationChunk(message=chunk)
            if n % 64 == 0:  # a real provider waits on its socket; without a pause a long answer would hold the loop
                await asyncio.sleep(0)


def is_offline(model: str) -> bool:
    return model.startswith("offline-")


# --- model parameters ------------------------------------------------------------------------------------

PROVIDERS = ("offline", "openai", "openai_compatible", "anthropic", "google", "ollama")
# Providers that need an API key; the others take one optionally (a hosted OpenAI-compatible server, an
# Ollama behind a proxy).
NEEDS_KEY = frozenset({"openai", "anthropic", "google"})
DEFAULT_BASE_URL = {"ollama": "http://127.0.0.1:11434"}

MODEL_PROPERTIES = {
    "provider": {"type": "string", "enum": list(PROVIDERS),
                 "description": "default: offline for offline-* models, else from the model name (gpt-*, claude-*, "
                                "gemini-*)"},
    "model": {"type": "string", "description": "offline-echo, or the provider's model name"},
    "temperature": {"type": "number", "minimum": 0, "maximum": 2},
    "max_tokens": {"type": "integer", "minimum": 1, "maximum": 1_000_000},
    "stop": {"type": "array", "items": {"type": "string"}, "maxItems": 8},
    "json_mode": {"type": "boolean", "description": "ask for a JSON object (openai, google, ollama)"},
    "base_url": {"type": "string", "format": "uri",
                 "description": "the provider's API address (OpenAI-compatible servers, Ollama, proxies); it goes "
                                "through the outbound-address guard"},
    "request_timeout_seconds": {"type": "number", "minimum": 1, "maximum": 600},
    "credential": {"type": "object", "description": "the API key: a credential by id, or by service_type and name",
                   "properties": {"id": {"type": "string"}, "service_type": {"type": "string"},
                                  "name": {"type": "string"}}},
    "script": {"type": "array", "description": "offline models only: the answers to play, see the README"},
}


@dataclass(frozen=True)
class ModelSpec:
    provider: str
    model: str
    temperature: float
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    json_mode: bool = False
    base_url: str = ""
    timeout: float = 60.0
    credential: Any = None  # engine.credentials.CredentialRef
    script: tuple = ()


def _provider_of(model: str) -> str:
    if is_offline(model):
        return "offline"
    for prefix, provider in (("gpt-", "openai"), ("o1", "openai"), ("o3", "openai"), ("o4", "openai"),
                             ("claude", "anthropic"), ("gemini", "google")):
        if model.startswith(prefix):
            return provider
    return ""


def credential_ref(params: dict, name: str = "credential"):
    """A node's credential reference (an id string, or {id} or {service_type, name}), or None."""
    from services.executor.engine.credentials import CredentialRef

    value = params.get(name)
    if value in (None, "", {}):
        return None
    if isinstance(value, str):
        value = {"id": value}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ParamError(name, "must be {id} or {service_type, name} of a stored credential")
    ref = CredentialRef(value.get("id", "").strip(), value.get("service_type", "").strip(), value.get("name", "").strip())
    if not ref.id and not (ref.service_type and ref.name):
        raise ParamError(name, "give the credential's id, or its service_type and name")
    if any(len(part) > 200 for part in (ref.id, ref.service_type, ref.name)):
        raise ParamError(name, "id, service_type and name must be at most 200 characters")
    return ref


def model_spec(params: dict, *, temperature: float = 0.7) -> ModelSpec:
    """The model parameters of a node (ParamError names the field to fix)."""
    model = text_param(params, "model", required=True, max_length=200).strip()
    provider = text_param(params, "provider", max_length=40) or _provider_of(model)
    if not provider:
        raise ParamError("provider", f"cannot tell the provider of {model!r}; set provider to one of "
                                     f"{', '.join(PROVIDERS)}")
    if provider not in PROVIDERS:
        raise ParamError("provider", f"must be one of {', '.join(PROVIDERS)}")
    if provider == "offline" and not is_offline(model):
        raise ParamError("model", "offline models are named offline-<anything>, e.g. offline-echo")
    if provider != "offline" and is_offline(model):
        raise ParamError("provider", f"{model!r} is an offline model; leave provider empty or set it to offline")
    stop = params.get("stop") or []
    if not isinstance(stop, list) or len(stop) > 8 or not all(isinstance(s, str) and s for s in stop):
        raise ParamError("stop", "must be a list of at most 8 non-empty strings")
    json_mode = params.get("json_mode", False)
    if not isinstance(json_mode, bool):
        raise ParamError("json_mode", "must be true or false")
    if json_mode and provider == "anthropic":
        raise ParamError("json_mode", "anthropic has no JSON mode; use a structured_output node instead")
    base_url = text_param(params, "base_url", max_length=2000).strip().rstrip("/")
    if base_url:
        try:
            outbound.check_url(base_url)
        except outbound.OutboundRefused as exc:
            raise ParamError("base_url", str(exc)) from None
    elif provider == "openai_compatible":
        raise ParamError("base_url", "is required for an OpenAI-compatible server")
    credential = credential_ref(params)
    if credential is None and provider in NEEDS_KEY:
        raise ParamError("credential", f"{provider} needs an API key: name a stored credential "
                                       "({id} or {service_type, name})")
    script = params.get("script") or []
    if script and provider != "offline":
        raise ParamError("script", "only offline models play scripts")
    if not isinstance(script, list) or not all(_is_step(s) for s in script):
        raise ParamError("script", 'must be a list of answers: a text, or {"text", "tool_calls": [{"name", "args"}]}')
    max_tokens = params.get("max_tokens")
    return ModelSpec(
        provider=provider, model=model,
        temperature=number_param(params, "temperature", default=temperature, minimum=0, maximum=2),
        max_tokens=None if max_tokens is None else int_param(params, "max_tokens", default=0, minimum=1,
                                                             maximum=1_000_000),
        stop=tuple(stop), json_mode=json_mode, base_url=base_url or DEFAULT_BASE_URL.get(provider, ""),
        timeout=number_param(params, "request_timeout_seconds", default=60, minimum=1, maximum=600),
        credential=credential, script=tuple(script))


def _is_step(step: Any) -> bool:
    if isinstance(step, str):
        return True
    if not isinstance(step, dict) or not isinstance(step.get("text", ""), str):
        return False
    calls = step.get("tool_calls", [])
    return isinstance(calls, list) and all(
        isinstance(c, dict) and isinstance(c.get("name"), str) and isinstance(c.get("args", {}), dict) for c in calls)


# --- building a model for a run --------------------------------------------------------------------------

class _UsageRecorder(AsyncCallbackHandler):
    """Adds every model call's reported token usage to the run (and so to the node's events)."""

    # Called in the model's own task: otherwise LangChain gathers a new task for every streamed token just to
    # call the no-op on_llm_new_token (a quarter of a token event's cost in the executor).
    run_inline = True

    def __init__(self, ctx: NodeContext):
        self.ctx = ctx

    async def on_llm_end(self, response: LLMResult, **kwargs: Any) -> None:
        record = getattr(self.ctx.services, "record_usage", None)
        if record is None:
            return
        for generations in response.generations:
            for generation in generations:
                usage = getattr(getattr(generation, "message", None), "usage_metadata", None)
                if usage:
                    record(self.ctx.node_id, int(usage.get("input_tokens") or 0), int(usage.get("output_tokens") or 0))


CLIENT_MODULES = {"openai": "langchain_openai", "openai_compatible": "langchain_openai",
                  "anthropic": "langchain_anthropic", "google": "langchain_google_genai", "ollama": "langchain_ollama"}


async def _client_module(provider: str):
    """The provider's LangChain package, imported in a thread the first time: importing one takes up to seconds,
    which on the event loop would stall every run of this replica (and their lease heartbeats)."""
    name = CLIENT_MODULES[provider]
    module = _imported.get(name)
    if module is None:  # (sys.modules may hold a module another thread is still importing)
        module = _imported[name] = await asyncio.to_thread(importlib.import_module, name)
    return module


_imported: dict[str, Any] = {}


async def api_key(spec: ModelSpec, ctx: NodeContext) -> str:
    if spec.credential is None:
        return ""
    secret = getattr(ctx.services, "secret", None)
    if secret is None:
        raise NodeError("credentials are not available here")
    return await secret(spec.credential)


async def chat_model(spec: ModelSpec, ctx: NodeContext) -> BaseChatModel:
    """The LangChain chat model of `spec` for this node run."""
    callbacks = [_UsageRecorder(ctx)]
    if spec.provider == "offline":
        return OfflineChatModel(model=spec.model, script=list(spec.script), callbacks=callbacks)
    if spec.base_url:
        await check_base_url(spec.base_url)
    key = await api_key(spec, ctx)
    client = await _client_module(spec.provider)
    common = {"model": spec.model, "temperature": spec.temperature, "callbacks": callbacks, "max_retries": 0}
    if spec.provider in ("openai", "openai_compatible"):
        return client.ChatOpenAI(**common, api_key=key or "not-needed", base_url=spec.base_url or None,
                          max_completion_tokens=spec.max_tokens, stop=list(spec.stop) or None, timeout=spec.timeout,
                          stream_usage=True, http_async_client=guarded_http_client(),
                          model_kwargs={"response_format": {"type": "json_object"}} if spec.json_mode else {})
    if spec.provider == "anthropic":
        return client.ChatAnthropic(**common, api_key=key, base_url=spec.base_url or None, max_tokens=spec.max_tokens or 1024,
                             stop=list(spec.stop) or None, default_request_timeout=spec.timeout)
    if spec.provider == "google":
        return client.ChatGoogleGenerativeAI(**{**common, "max_retries": 1}, google_api_key=key,
                                      base_url=spec.base_url or None, max_output_tokens=spec.max_tokens,
                                      stop=list(spec.stop) or None, timeout=spec.timeout,
                                      response_mime_type="application/json" if spec.json_mode else None)
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return client.ChatOllama(model=spec.model, temperature=spec.temperature, callbacks=callbacks, base_url=spec.base_url,
                      num_predict=spec.max_tokens, stop=list(spec.stop) or None, format="json" if spec.json_mode else None,
                      client_kwargs={"timeout": spec.timeout, "headers": headers,
                                     "transport": guarded_transport()})


# --- provider errors -------------------------------------------------------------------------------------

def _status(exc: BaseException) -> int | None:
    for error in _chain(exc):
        for attribute in ("status_code", "code"):
            value = getattr(error, attribute, None)
            if isinstance(value, int) and 100 <= value <= 599:
                return value
        response = getattr(error, "response", None)
        if isinstance(getattr(response, "status_code", None), int):
            return response.status_code
    return None


def _chain(exc: BaseException) -> list[BaseException]:
    seen = []
    while exc is not None and exc not in seen and len(seen) < 5:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return seen


def _retry_after(exc: BaseException) -> float:
    for error in _chain(exc):
        headers = getattr(getattr(error, "response", None), "headers", None)
        value = headers.get("retry-after") if headers is not None else None
        if value:
            try:
                return max(0.0, float(value))
            except ValueError:
                return 0.0
    return 0.0


def _is_timeout(exc: BaseException) -> bool:
    return any(isinstance(e, httpx.TimeoutException | TimeoutError) or "Timeout" in type(e).__name__
               for e in _chain(exc))


def _is_connection(exc: BaseException) -> bool:
    return any(isinstance(e, httpx.TransportError) or "Connection" in type(e).__name__ for e in _chain(exc))


def _detail(exc: BaseException) -> str:
    """The provider's own words, short (the engine masks the run's secrets in every error message)."""
    return str(getattr(exc, "message", "") or exc).strip().replace("\n", " ")[:300]


def as_node_error(exc: Exception, spec: ModelSpec) -> NodeError | None:
    """A provider's failure as a NodeError the user can act on; None for anything that is not one."""
    if isinstance(exc, NodeError):
        return exc
    where = f"{spec.provider} ({spec.model})"
    status = _status(exc)
    if status in (401, 403):
        return NodeError(f"{where} refused the API key (HTTP {status}); check the credential", code="PROVIDER_AUTH",
                         retryable=False)
    if status == 429:
        wait = _retry_after(exc)
        hint = f"; it asks to retry after {wait:g} s" if wait else ""
        return NodeError(f"{where} is rate limiting requests (HTTP 429){hint}", code="PROVIDER_RATE_LIMITED",
                         retry_after=wait)
    if status is not None and status >= 500:
        return NodeError(f"{where} failed (HTTP {status}): {_detail(exc)}", code="PROVIDER_UNAVAILABLE")
    if status is not None and status >= 400:
        return NodeError(f"{where} rejected the request (HTTP {status}): {_detail(exc)}",
                         code="PROVIDER_REJECTED", retryable=False)
    if _is_timeout(exc):
        return NodeError(f"{where} did not answer within {spec.timeout:g} s", code="PROVIDER_TIMEOUT")
    if _is_connection(exc):
        return NodeError(f"cannot reach {where} at {spec.base_url or 'its default address'}",
                         code="PROVIDER_UNAVAILABLE")
    return None


@contextlib.contextmanager
def provider_errors(spec: ModelSpec):
    """Around calls to a provider's model: its errors as NodeErrors."""
    try:
        yield
    except Exception as exc:
        error = as_node_error(exc, spec)
        if error is None or error is exc:
            raise
        raise error from None
