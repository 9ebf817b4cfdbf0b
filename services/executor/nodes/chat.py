"""The chat node, and what every node that calls a chat model shares: the model parameters, the thread as
messages, streamed answers with token events, provider errors as node errors."""

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from services.executor.nodes.base import Node, NodeContext, NodeResult, as_text, text_param
from services.executor.nodes.llms import MODEL_PROPERTIES, ModelSpec, chat_model, model_spec, provider_errors

__all__ = ["MODEL_PROPERTIES", "ModelNode", "ask", "conversation", "stream_answer"]


def thread_messages(messages: list[dict]) -> list[BaseMessage]:
    """The thread's messages ({role, content}; a memory node may add a system summary) as chat messages."""
    kinds = {"user": HumanMessage, "system": SystemMessage}
    return [kinds.get(m["role"], AIMessage)(m["content"]) for m in messages]


def conversation(ctx: NodeContext) -> list[BaseMessage]:
    """The thread's earlier messages, then the node's input as the user's message."""
    return [*thread_messages(ctx.messages), HumanMessage(as_text(ctx.input))]


async def stream_answer(spec: ModelSpec, messages: list[BaseMessage], ctx: NodeContext) -> str:
    """The model's answer, emitted as token events while it streams."""
    model = await chat_model(spec, ctx)
    parts = []
    with provider_errors(spec):
        async for chunk in model.astream(messages):
            text = chunk.text
            if text:
                parts.append(text)
                ctx.emit("token", {"text": text})
    return "".join(parts)


async def ask(spec: ModelSpec, messages: list[BaseMessage], ctx: NodeContext) -> str:
    """The model's answer without token events (the inner calls of chains)."""
    model = await chat_model(spec, ctx)
    with provider_errors(spec):
        answer = await model.ainvoke(messages)
    return answer.text


class ModelNode(Node):
    """A node that calls a chat model: its params carry MODEL_PROPERTIES."""

    credential_type = "openai, anthropic, google, ollama or openai_compatible"
    default_temperature = 0.7

    def configure(self, params: dict) -> None:
        self.spec = model_spec(params, temperature=self.default_temperature)
        self.configure_node(params)

    def configure_node(self, params: dict) -> None:  # noqa: B027 (optional: nodes with model params only skip it)
        """The node's own parameters besides the model's."""


class ChatModel(ModelNode):
    type = "chat_model"
    category = "llms"
    display_name = "Chat model"
    description = ("Answers the input (with the thread's earlier messages) with a chat model: offline, OpenAI or "
                   "any OpenAI-compatible server, Anthropic, Google Gemini, Ollama. Streams tokens.")
    params_schema = {"type": "object", "required": ["model"], "properties": {
        **MODEL_PROPERTIES, "system_prompt": {"type": "string"}}}

    def configure_node(self, params: dict) -> None:
        self.system_prompt = text_param(params, "system_prompt", max_length=100_000)

    async def run(self, ctx: NodeContext) -> NodeResult:
        messages: list[BaseMessage] = [SystemMessage(self.system_prompt)] if self.system_prompt else []
        messages += conversation(ctx)
        return NodeResult(await stream_answer(self.spec, messages, ctx))
