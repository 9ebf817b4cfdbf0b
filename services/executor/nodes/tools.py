"""Tools an agent can call: calculator, current time, HTTP request, web search, another workflow.

An agent's `tools` parameter lists tool names or {name, ...settings}; each is checked when the graph is
compiled (`ToolSpec`) and built for a node run (`build`), where it can reach the run: credentials, the
outbound guard, sub-workflows. A tool's failure is its result ("Error: ..."), so the model can react to it.
"""

from __future__ import annotations

import ast
import json
import math
import operator
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
from langchain_core.tools import BaseTool, StructuredTool

from services.common import outbound
from services.executor.nodes.base import (
    NodeContext,
    NodeError,
    ParamError,
    fetch_outbound,
    int_param,
    number_param,
    text_param,
)
from services.executor.nodes.llms import credential_ref

# --- calculator -----------------------------------------------------------------------------------------

MAX_EXPRESSION_LENGTH = 1000
MAX_EXPONENT = 1000
MAX_RESULT_BITS = 10_000  # about 3,000 decimal digits

_BINARY: dict[type, Callable] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
}
_UNARY: dict[type, Callable] = {ast.USub: operator.neg, ast.UAdd: operator.pos}


class CalculatorError(ValueError):
    """The expression is not plain arithmetic, or its result is out of bounds."""


def _checked(value: int | float) -> int | float:
    if isinstance(value, int) and value.bit_length() > MAX_RESULT_BITS:
        raise CalculatorError(f"the result is too large (more than {MAX_RESULT_BITS} bits)")
    if isinstance(value, float) and not math.isfinite(value):
        raise CalculatorError("the result is too large for a number")
    if not isinstance(value, int | float):  # a negative number to a fractional power is complex
        raise CalculatorError("the result is not a real number")
    return value


def _power(base: int | float, exponent: int | float) -> int | float:
    if abs(exponent) > MAX_EXPONENT:
        raise CalculatorError(f"exponents must be between -{MAX_EXPONENT} and {MAX_EXPONENT}")
    if isinstance(base, int) and isinstance(exponent, int) and exponent > 0 \
            and base.bit_length() * exponent > MAX_RESULT_BITS + exponent:
        raise CalculatorError(f"the result is too large (more than {MAX_RESULT_BITS} bits)")
    return base ** exponent


def _evaluate(node: ast.AST) -> int | float:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return _checked(node.value)
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(node.op, ast.Pow):
            return _checked(_power(left, right))
        return _checked(_BINARY[type(node.op)](left, right))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _checked(_UNARY[type(node.op)](_evaluate(node.operand)))
    raise CalculatorError(f"only numbers, + - * / // % ** and parentheses are allowed, not {type(node).__name__}")


def calculate(expression: str) -> int | float:
    """The value of an arithmetic expression. Raises CalculatorError for anything else."""
    if not isinstance(expression, str) or not expression.strip():
        raise CalculatorError("the expression is empty")
    if len(expression) > MAX_EXPRESSION_LENGTH:
        raise CalculatorError(f"the expression is longer than {MAX_EXPRESSION_LENGTH} characters")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        reason = exc.msg if isinstance(exc, SyntaxError) else "it is too deeply nested or too long"
        raise CalculatorError(f"not an arithmetic expression: {reason}") from None
    try:
        return _evaluate(tree)
    except ZeroDivisionError:
        raise CalculatorError("division by zero") from None
    except (OverflowError, RecursionError):
        raise CalculatorError("the result is too large for a number") from None


def _calculator(expression: str) -> str:
    try:
        value = calculate(expression)
    except CalculatorError as exc:
        return f"Error: {exc}"
    return repr(value) if isinstance(value, float) else str(value)


def _current_time(timezone: str = "UTC") -> str:
    try:
        zone = ZoneInfo(timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return f"Error: unknown time zone {timezone!r}; use an IANA name such as Europe/Paris"
    return datetime.now(UTC).astimezone(zone).isoformat(timespec="seconds")


# --- tool settings ----------------------------------------------------------------------------------------

HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")
SEARCH_URLS = {"tavily": "https://api.tavily.com", "brave": "https://api.search.brave.com"}
_TOOL_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")


@dataclass(frozen=True)
class ToolSpec:
    kind: str  # calculator, current_time, http_request, web_search, workflow
    name: str  # as the model sees it
    settings: dict = field(default_factory=dict)


TOOL_KINDS = ("calculator", "current_time", "http_request", "web_search", "workflow")
TOOLS_SCHEMA = {"type": "array", "maxItems": 20, "items": {"oneOf": [
    {"type": "string", "enum": list(TOOL_KINDS[:4])},
    {"type": "object", "required": ["type"], "properties": {
        "type": {"type": "string", "enum": list(TOOL_KINDS)},
        "name": {"type": "string", "description": "the tool's name for the model (workflow tools)"},
        "description": {"type": "string"},
        "timeout_seconds": {"type": "number", "minimum": 0.1, "maximum": 60, "description": "http_request"},
        "max_response_bytes": {"type": "integer", "minimum": 1, "maximum": 1048576, "description": "http_request"},
        "methods": {"type": "array", "items": {"type": "string", "enum": list(HTTP_METHODS)}},
        "provider": {"type": "string", "enum": list(SEARCH_URLS), "description": "web_search"},
        "credential": {"type": "object", "description": "web_search: the search API key"},
        "base_url": {"type": "string", "description": "web_search: another address of the search API"},
        "max_results": {"type": "integer", "minimum": 1, "maximum": 20},
        "workflow_id": {"type": "string"}, "version": {"type": "integer", "minimum": 0}}}]}}


def tool_specs(value: Any) -> list[ToolSpec]:
    """The `tools` parameter of an agent, checked."""
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > 20:
        raise ParamError("tools", f"must be a list of at most 20 tools ({', '.join(TOOL_KINDS)})")
    specs: list[ToolSpec] = []
    for i, item in enumerate(value):
        where = f"tools[{i}]"
        settings = {"type": item} if isinstance(item, str) else item
        if not isinstance(settings, dict) or settings.get("type", settings.get("name")) not in TOOL_KINDS:
            raise ParamError(where, f"unknown tool {item!r}; available: {', '.join(TOOL_KINDS)}")
        kind = settings.get("type") or settings["name"]
        spec = _tool_spec(kind, settings, where)
        if any(s.name == spec.name for s in specs):
            raise ParamError(where, f"two tools are named {spec.name!r}")
        specs.append(spec)
    return specs


def _tool_spec(kind: str, settings: dict, where: str) -> ToolSpec:
    def sub(error: ParamError) -> ParamError:
        return ParamError(f"{where}.{error.field}", error.description)

    try:
        if kind == "http_request":
            methods = settings.get("methods", ["GET", "POST"])
            if not isinstance(methods, list) or not methods or any(m not in HTTP_METHODS for m in methods):
                raise ParamError("methods", f"must be a list of {', '.join(HTTP_METHODS)}")
            return ToolSpec(kind, kind, {
                "timeout": number_param(settings, "timeout_seconds", default=10, minimum=0.1, maximum=60),
                "max_bytes": int_param(settings, "max_response_bytes", default=65536, minimum=1, maximum=1 << 20),
                "methods": tuple(methods)})
        if kind == "web_search":
            provider = text_param(settings, "provider", default="tavily", max_length=20)
            if provider not in SEARCH_URLS:
                raise ParamError("provider", f"must be one of {', '.join(SEARCH_URLS)}")
            credential = credential_ref(settings)  # without one the tool tells the model it cannot search
            base_url = text_param(settings, "base_url", default=SEARCH_URLS[provider], max_length=2000).rstrip("/")
            try:
                outbound.check_url(base_url)
            except outbound.OutboundRefused as exc:
                raise ParamError("base_url", str(exc)) from None
            return ToolSpec(kind, kind, {"provider": provider, "credential": credential, "base_url": base_url,
                                         "max_results": int_param(settings, "max_results", default=5, minimum=1,
                                                                  maximum=20)})
        if kind == "workflow":
            workflow_id = text_param(settings, "workflow_id", required=True, max_length=100)
            try:
                uuid.UUID(workflow_id)
            except ValueError:
                raise ParamError("workflow_id", "must be a workflow id") from None
            name = text_param(settings, "name", default="run_workflow", max_length=64)
            if not _TOOL_NAME.match(name) or name in TOOL_KINDS:
                raise ParamError("name", "must be letters, digits, _ or - (at most 64), starting with a letter, "
                                         "and not a built-in tool's name")
            return ToolSpec(kind, name, {
                "workflow_id": workflow_id,
                "version": int_param(settings, "version", default=0, minimum=0, maximum=1_000_000),
                "description": text_param(settings, "description", max_length=1000)
                or "Runs another workflow with the given input text and returns its output."})
        return ToolSpec(kind, kind)
    except ParamError as exc:
        raise sub(exc) from None


# --- tools for a run --------------------------------------------------------------------------------------

def _http_tool(spec: ToolSpec) -> BaseTool:
    settings = spec.settings

    async def http_request(url: str, method: str = "GET", headers: dict[str, str] | None = None,
                           body: str | None = None) -> str:
        method = (method or "GET").upper()
        if method not in settings["methods"]:
            return f"Error: method {method} is not allowed here; use one of {', '.join(settings['methods'])}"
        try:
            fetched = await fetch_outbound(url, method=method, headers={str(k): str(v) for k, v in (headers or {}).items()},
                                           body=body.encode() if body else None, timeout=settings["timeout"],
                                           max_bytes=settings["max_bytes"])
        except NodeError as exc:
            return f"Error: {exc}"
        except httpx.HTTPError as exc:
            return f"Error: the request failed ({type(exc).__name__})"
        text = fetched.body.decode("utf-8", errors="replace")
        cut = f"\n[cut at {settings['max_bytes']} bytes]" if fetched.truncated else ""
        return f"HTTP {fetched.status}\n{text}{cut}"

    return StructuredTool.from_function(
        coroutine=http_request, name=spec.name,
        description=f"Sends an HTTP request ({', '.join(settings['methods'])}) to a public URL and returns the "
                    "status and the response body.")


def _search_tool(spec: ToolSpec, ctx: NodeContext) -> BaseTool:
    settings = spec.settings

    async def web_search(query: str) -> str:
        if settings["credential"] is None:
            return (f"Error: web search is not set up (the {settings['provider']} API key is missing: set the "
                    "tool's credential); answer without it.")
        try:
            key = await ctx.services.secret(settings["credential"])
            if settings["provider"] == "tavily":
                fetched = await fetch_outbound(
                    settings["base_url"] + "/search", method="POST", timeout=15, max_bytes=1 << 20,
                    headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
                    body=json.dumps({"query": query, "max_results": settings["max_results"]}).encode())
            else:
                fetched = await fetch_outbound(
                    str(httpx.URL(settings["base_url"] + "/res/v1/web/search",
                                  params={"q": query, "count": settings["max_results"]})),
                    timeout=15, max_bytes=1 << 20, headers={"X-Subscription-Token": key, "Accept": "application/json"})
        except NodeError as exc:
            return f"Error: {exc}"
        except httpx.HTTPError as exc:
            return f"Error: the search failed ({type(exc).__name__})"
        if fetched.status != 200:
            return f"Error: {settings['provider']} answered HTTP {fetched.status}"
        try:
            data = json.loads(fetched.body)
            items = data["results"] if settings["provider"] == "tavily" else data.get("web", {}).get("results", [])
            results = [{"title": r.get("title", ""), "url": r.get("url", ""),
                        "content": r.get("content") or r.get("description", "")} for r in items]
        except (ValueError, KeyError, TypeError, AttributeError):
            return f"Error: {settings['provider']} answered something that is not a search result"
        return json.dumps(results[:settings["max_results"]], ensure_ascii=False)

    return StructuredTool.from_function(coroutine=web_search, name=spec.name,
                                        description="Searches the web; returns the top results as JSON "
                                                    "[{title, url, content}].")


def _workflow_tool(spec: ToolSpec, ctx: NodeContext) -> BaseTool:
    settings = spec.settings

    async def run_workflow(input: str) -> str:
        from services.executor.engine.run import RunFailed

        try:
            output = await ctx.services.run_subworkflow(settings["workflow_id"], settings["version"], input,
                                                        f"{ctx.node_id}/{spec.name}")
        except (NodeError, RunFailed) as exc:
            return f"Error: {exc}"
        return output if isinstance(output, str) else json.dumps(output, ensure_ascii=False, default=str)

    return StructuredTool.from_function(coroutine=run_workflow, name=spec.name, description=settings["description"])


def build(spec: ToolSpec, ctx: NodeContext) -> BaseTool:
    if spec.kind == "calculator":
        return StructuredTool.from_function(
            _calculator, name="calculator",
            description="Evaluates an arithmetic expression: numbers, + - * / // % ** and parentheses, "
                        "e.g. (2 + 3) * 4.")
    if spec.kind == "current_time":
        return StructuredTool.from_function(
            _current_time, name="current_time",
            description="The current date and time (ISO 8601) in a time zone (IANA name, default UTC).")
    if spec.kind == "http_request":
        return _http_tool(spec)
    if spec.kind == "web_search":
        return _search_tool(spec, ctx)
    return _workflow_tool(spec, ctx)
