"""The agent node: a chat model that calls tools (LangGraph's prebuilt ReAct agent) until it can answer.

Every tool call and every tool result is a run event (`tool_call`, `tool_result`); the answer streams as
token events. Tools are in `tools.py`.
"""

from __future__ import annotations

from langchain_core.messages import AIMessage, ToolMessage
from langgraph.errors import GraphRecursionError
from langgraph.prebuilt import create_react_agent

from services.executor.nodes.base import (
    NodeContext,
    NodeError,
    NodeResult,
    int_param,
    summarize,
    text_param,
)
from services.executor.nodes.chat import MODEL_PROPERTIES, ModelNode, conversation
from services.executor.nodes.llms import chat_model, provider_errors
from services.executor.nodes.tools import TOOLS_SCHEMA, build, calculate, tool_specs

__all__ = ["Agent", "calculate"]


class Agent(ModelNode):
    type = "agent"
    category = "agents"
    display_name = "Agent"
    description = ("A chat model that calls tools (calculator, current time, HTTP requests, web search, other "
                   "workflows) step by step until it can answer the input; tool calls and results are events, "
                   "the answer streams.")
    params_schema = {"type": "object", "required": ["model"], "properties": {
        **MODEL_PROPERTIES,
        "system_prompt": {"type": "string"},
        "tools": TOOLS_SCHEMA,
        "max_iterations": {"type": "integer", "minimum": 1, "maximum": 50,
                           "description": "rounds of tool calls before the agent must answer (alias: max_steps)"}}}
    default_timeout_seconds = 300.0

    def configure_node(self, params: dict) -> None:
        self.system_prompt = text_param(params, "system_prompt", max_length=100_000)
        name = "max_iterations" if "max_iterations" in params else "max_steps"
        self.max_steps = int_param(params, name, default=10, minimum=1, maximum=50)
        self.tools = tool_specs(params.get("tools"))

    def workflows(self) -> list[tuple[str, int]]:
        return [(t.settings["workflow_id"], t.settings["version"]) for t in self.tools if t.kind == "workflow"]

    async def run(self, ctx: NodeContext) -> NodeResult:
        model = await chat_model(self.spec, ctx)
        agent = create_react_agent(model, [build(spec, ctx) for spec in self.tools], prompt=self.system_prompt or None)
        # A step is a model turn and the tool calls it asks for (two LangGraph supersteps); then the answer.
        config = {"recursion_limit": 2 * self.max_steps + 2}
        streamed, answer = False, None
        try:
            with provider_errors(self.spec):
                async for mode, item in agent.astream({"messages": conversation(ctx)}, config,
                                                      stream_mode=["messages", "updates"]):
                    if mode == "updates":
                        answer = _report(item, ctx) or answer
                        continue
                    chunk, metadata = item
                    text = chunk.text
                    # Only the model's own text; not tool results, not the text of a turn that calls tools.
                    if text and metadata.get("langgraph_node") == "agent" and not getattr(chunk, "tool_call_chunks", None):
                        streamed = True
                        ctx.emit("token", {"text": text})
        except GraphRecursionError:
            answer = _NEEDS_MORE_STEPS
        if answer is None or answer == _NEEDS_MORE_STEPS:  # the prebuilt agent's own answer when out of steps
            raise NodeError(f"the agent did not answer within max_iterations ({self.max_steps}) steps",
                            code="AGENT_STEP_LIMIT", retryable=False)
        if not streamed and answer:
            ctx.emit("token", {"text": answer})
        return NodeResult(answer)


_NEEDS_MORE_STEPS = "Sorry, need more steps to process this request."


def _report(update: dict, ctx: NodeContext) -> str | None:
    """Emits the tool calls and results of one agent step; returns the answer if the step gave one."""
    answer = None
    for step in update.values():
        for message in (step or {}).get("messages", []) if isinstance(step, dict) else []:
            if isinstance(message, AIMessage) and message.tool_calls:
                for call in message.tool_calls:
                    ctx.emit("tool_call", {"id": call.get("id") or "", "name": call["name"],
                                           "args": summarize(call.get("args", {}))})
            elif isinstance(message, AIMessage):
                answer = message.text
            elif isinstance(message, ToolMessage):
                ctx.emit("tool_result", {"id": message.tool_call_id, "name": message.name or "",
                                         "output": summarize(message.content)})
    return answer
