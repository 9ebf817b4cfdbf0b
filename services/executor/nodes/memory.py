"""Memory nodes over the run's thread (a run with a `thread_id` reads the thread's recent messages, and its
input and output are appended when it succeeds). A memory node shapes what the chat nodes after it see:
the whole buffer, the last N messages, or a summary of the older ones once they exceed a token budget."""

from langchain_core.messages import HumanMessage, SystemMessage

from services.executor.nodes.base import Node, NodeContext, NodeResult, int_param
from services.executor.nodes.chat import MODEL_PROPERTIES, ModelNode, ask

SUMMARY_PROMPT = ("Summarize the conversation the user sends, keeping names, facts, numbers and decisions. "
                  "Answer with the summary only.")


def estimate_tokens(text: str) -> int:
    """A provider-independent estimate (about four characters a token)."""
    return (len(text) + 3) // 4


class ChatMemory(Node):
    type = "chat_memory"
    category = "memory"
    display_name = "Window memory"
    description = "Keeps the last `window` messages of the run's thread for the chat model after it."
    params_schema = {"type": "object", "properties": {"window": {"type": "integer", "minimum": 1, "maximum": 1000}}}

    def configure(self, params: dict) -> None:
        self.window = int_param(params, "window", default=20, minimum=1, maximum=1000)

    async def run(self, ctx: NodeContext) -> NodeResult:
        ctx.messages[:] = ctx.messages[-self.window:]
        return NodeResult(ctx.input)


class BufferMemory(Node):
    type = "buffer_memory"
    category = "memory"
    display_name = "Buffer memory"
    description = ("The whole conversation of the run's thread (its last `max_messages`) for the chat model "
                   "after it.")
    params_schema = {"type": "object", "properties": {
        "max_messages": {"type": "integer", "minimum": 1, "maximum": 100}}}

    def configure(self, params: dict) -> None:
        self.max_messages = int_param(params, "max_messages", default=100, minimum=1, maximum=100)

    async def run(self, ctx: NodeContext) -> NodeResult:
        ctx.messages[:] = ctx.messages[-self.max_messages:]
        return NodeResult(ctx.input)


class SummaryMemory(ModelNode):
    type = "summary_memory"
    category = "memory"
    display_name = "Summary memory"
    description = ("When the thread's messages exceed `max_tokens_budget` (estimated), the older ones are "
                   "summarized by the chosen model into one system message; the last `keep_last` stay as they are.")
    params_schema = {"type": "object", "required": ["model"], "properties": {
        **MODEL_PROPERTIES,
        "max_tokens_budget": {"type": "integer", "minimum": 10, "maximum": 1_000_000},
        "keep_last": {"type": "integer", "minimum": 0, "maximum": 100}}}
    default_temperature = 0.0

    def configure_node(self, params: dict) -> None:
        self.budget = int_param(params, "max_tokens_budget", default=2000, minimum=10, maximum=1_000_000)
        self.keep_last = int_param(params, "keep_last", default=4, minimum=0, maximum=100)

    async def run(self, ctx: NodeContext) -> NodeResult:
        messages = ctx.messages
        if sum(estimate_tokens(m["content"]) for m in messages) <= self.budget:
            return NodeResult(ctx.input)
        cut = len(messages) - self.keep_last if self.keep_last else len(messages)
        older, recent = messages[:cut], messages[cut:]
        transcript = "\n".join(f"{m['role']}: {m['content']}" for m in older)
        summary = await ask(self.spec, [SystemMessage(SUMMARY_PROMPT), HumanMessage(transcript)], ctx)
        ctx.emit("memory_summarized", {"messages": len(older)})
        ctx.messages[:] = [{"role": "system", "content": f"Summary of the earlier conversation: {summary}"}, *recent]
        return NodeResult(ctx.input)
