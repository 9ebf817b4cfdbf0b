"""Agents: a chat model that decides which tools to call (LangGraph's prebuilt ReAct agent), and its tools.

Tools available now: `calculator` (safe arithmetic over Python's `ast`, never eval). `http_request` and
`web_search` are accepted names whose tools answer that they are not available in this executor yet.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable

from langchain_core.messages import AIMessage
from langchain_core.tools import BaseTool, StructuredTool
from langgraph.errors import GraphRecursionError
from langgraph.prebuilt import create_react_agent

from services.executor.nodes.base import (
    Node,
    NodeContext,
    NodeError,
    NodeResult,
    ParamError,
    as_text,
    int_param,
    text_param,
)
from services.executor.nodes.chat import MODEL_PROPERTIES, conversation, model_params
from services.executor.nodes.llms import chat_model_for

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


def _unavailable(name: str) -> str:
    return f"The {name} tool is not available in this executor yet; answer without it."


def _http_request(url: str, method: str = "GET") -> str:
    return _unavailable("http_request")


def _web_search(query: str) -> str:
    return _unavailable("web_search")


TOOLS: dict[str, BaseTool] = {
    "calculator": StructuredTool.from_function(
        _calculator, name="calculator",
        description="Evaluates an arithmetic expression: numbers, + - * / // % ** and parentheses, e.g. (2 + 3) * 4."),
    "http_request": StructuredTool.from_function(
        _http_request, name="http_request", description="Calls an HTTP API (GET or POST) and returns the response."),
    "web_search": StructuredTool.from_function(
        _web_search, name="web_search", description="Searches the web and returns the top results."),
}


# --- the agent node -------------------------------------------------------------------------------------

class Agent(Node):
    type = "agent"
    category = "agents"
    display_name = "Agent"
    description = ("A chat model that calls tools (calculator, web search, HTTP requests) step by step until it "
                   "can answer the input; streams the answer.")
    params_schema = {"type": "object", "required": ["model"], "properties": {
        **MODEL_PROPERTIES,
        "system_prompt": {"type": "string"},
        "tools": {"type": "array", "uniqueItems": True, "items": {"type": "string", "enum": sorted(TOOLS)}},
        "max_steps": {"type": "integer", "minimum": 1, "maximum": 50,
                      "description": "rounds of tool calls before the agent must answer"}}}
    credential_type = "openai"
    default_timeout_seconds = 300.0

    def configure(self, params: dict) -> None:
        self.model, self.temperature = model_params(params)
        self.system_prompt = text_param(params, "system_prompt", max_length=100_000)
        self.max_steps = int_param(params, "max_steps", default=10, minimum=1, maximum=50)
        tools = params.get("tools")
        if tools is None:
            tools = []
        if not isinstance(tools, list) or not all(isinstance(t, str) for t in tools):
            raise ParamError("tools", f"must be a list of tool names ({', '.join(sorted(TOOLS))})")
        for i, name in enumerate(tools):
            if name not in TOOLS:
                raise ParamError(f"tools[{i}]", f"unknown tool {name!r}; available: {', '.join(sorted(TOOLS))}")
        self.tools = list(dict.fromkeys(tools))

    async def run(self, ctx: NodeContext) -> NodeResult:
        messages = conversation(ctx)
        agent = create_react_agent(chat_model_for(self.model, self.temperature, None),
                                   [TOOLS[name] for name in self.tools], prompt=self.system_prompt or None)
        # A step is a model turn and the tool calls it asks for (two LangGraph supersteps); then the answer.
        config = {"recursion_limit": 2 * self.max_steps + 2}
        streamed, state = False, None
        try:
            async for mode, item in agent.astream({"messages": messages}, config, stream_mode=["messages", "values"]):
                if mode == "values":
                    state = item
                    continue
                chunk, metadata = item
                text = chunk.content if isinstance(chunk.content, str) else ""
                # Only the model's own text; not tool results, not the text of a turn that calls tools.
                if text and metadata.get("langgraph_node") == "agent" and not getattr(chunk, "tool_call_chunks", None):
                    streamed = True
                    ctx.emit("token", {"text": text})
        except GraphRecursionError:
            state = {"messages": [AIMessage(_NEEDS_MORE_STEPS)]}
        answer = _final_answer(state)
        if answer == _NEEDS_MORE_STEPS:  # the prebuilt agent's own answer when it runs out of steps, or ours
            raise NodeError(f"the agent did not answer within max_steps ({self.max_steps}) steps")
        if not streamed and answer:
            ctx.emit("token", {"text": answer})
        return NodeResult(answer)


_NEEDS_MORE_STEPS = "Sorry, need more steps to process this request."


def _final_answer(state: dict | None) -> str:
    for message in reversed((state or {}).get("messages", [])):
        if isinstance(message, AIMessage) and not message.tool_calls:
            return message.content if isinstance(message.content, str) else as_text(message.content)
    return ""
