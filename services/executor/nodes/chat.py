"""The chat nodes (chat_model, chat_memory) and what every node that calls a chat model shares: the model
parameters, the thread as messages, streamed answers."""

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from services.executor.nodes.base import (
    Node,
    NodeContext,
    NodeResult,
    ParamError,
    as_text,
    int_param,
    number_param,
    text_param,
)
from services.executor.nodes.llms import chat_model_for, is_offline

MODEL_PROPERTIES = {
    "model": {"type": "string", "description": "offline-echo, or a provider's model name"},
    "temperature": {"type": "number", "minimum": 0, "maximum": 2},
    "credential": {"type": "object", "properties": {"service_type": {"type": "string"}, "name": {"type": "string"}}},
}


def model_params(params: dict, *, temperature: float = 0.7) -> tuple[str, float]:
    """(model, temperature) of a node's params; only offline-* models run in this executor for now."""
    model = text_param(params, "model", required=True, max_length=200)
    if not is_offline(model):
        raise ParamError("model", f"{model!r} is not available in this executor; use offline-echo")
    return model, number_param(params, "temperature", default=temperature, minimum=0, maximum=2)


def conversation(ctx: NodeContext) -> list[BaseMessage]:
    """The thread's earlier messages, then the node's input as the user's message."""
    messages: list[BaseMessage] = [HumanMessage(m["content"]) if m["role"] == "user" else AIMessage(m["content"])
                                   for m in ctx.messages]
    messages.append(HumanMessage(as_text(ctx.input)))
    return messages


async def stream_answer(model: BaseChatModel, messages: list[BaseMessage], ctx: NodeContext) -> str:
    """The model's answer, emitted as token events while it streams."""
    parts = []
    async for chunk in model.astream(messages):
        text = chunk.content if isinstance(chunk.content, str) else ""
        if text:
            parts.append(text)
            ctx.emit("token", {"text": text})
    return "".join(parts)


class ChatModel(Node):
    type = "chat_model"
    category = "llms"
    display_name = "Chat model"
    description = "Answers the input (with the thread's earlier messages) with a chat model, streaming tokens."
    params_schema = {"type": "object", "required": ["model"], "properties": {
        **MODEL_PROPERTIES, "system_prompt": {"type": "string"}}}
    credential_type = "openai"

    def configure(self, params: dict) -> None:
        self.model, self.temperature = model_params(params)
        self.system_prompt = text_param(params, "system_prompt", max_length=100_000)

    async def run(self, ctx: NodeContext) -> NodeResult:
        messages: list[BaseMessage] = [SystemMessage(self.system_prompt)] if self.system_prompt else []
        messages += conversation(ctx)
        return NodeResult(await stream_answer(chat_model_for(self.model, self.temperature, None), messages, ctx))


class ChatMemory(Node):
    type = "chat_memory"
    category = "memory"
    display_name = "Chat memory"
    description = "Keeps the last `window` messages of the run's thread for the chat model after it."
    params_schema = {"type": "object", "properties": {"window": {"type": "integer", "minimum": 1, "maximum": 1000}}}

    def configure(self, params: dict) -> None:
        self.window = int_param(params, "window", default=20, minimum=1, maximum=1000)

    async def run(self, ctx: NodeContext) -> NodeResult:
        ctx.messages[:] = ctx.messages[-self.window:]
        return NodeResult(ctx.input)
