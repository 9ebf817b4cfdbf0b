"""Chat models through LangChain, and the built-in offline model for demos and tests.

`offline-echo` (also `offline-*`) is a real LangChain chat model that needs no network: it answers
deterministically from the conversation and streams its answer token by token. Provider models (OpenAI,
Anthropic, Ollama, ...) plug in here through `chat_model_for` with the run's resolved credential.
"""

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

from services.executor.nodes.base import (
    NodeError,
)

_TOKEN = re.compile(r"\S+\s*|\s+")


class OfflineEchoChatModel(BaseChatModel):
    """Answers "<prefix>: <last user message>" (with the turn number of the conversation), token by token."""

    model: str = "offline-echo"

    @property
    def _llm_type(self) -> str:
        return "offline-echo"

    def _answer(self, messages: list[BaseMessage]) -> str:
        users = [m for m in messages if isinstance(m, HumanMessage)]
        last = users[-1].content if users else ""
        turn = len(users)
        return f"Echo: {last}" if turn <= 1 else f"Echo (turn {turn}): {last}"

    def bind_tools(self, tools: Any, **kwargs: Any) -> "OfflineEchoChatModel":
        """Agents bind tools before they run; the offline model accepts them and never calls one."""
        return self

    def _generate(self, messages: list[BaseMessage], stop=None, run_manager: CallbackManagerForLLMRun | None = None,
                  **kwargs: Any) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=self._answer(messages)))])

    def _stream(self, messages, stop=None, run_manager=None, **kwargs) -> Iterator[ChatGenerationChunk]:
        for token in _TOKEN.findall(self._answer(messages)):
            yield ChatGenerationChunk(message=AIMessageChunk(content=token))

    async def _astream(self, messages, stop=None, run_manager: AsyncCallbackManagerForLLMRun | None = None,
                       **kwargs) -> AsyncIterator[ChatGenerationChunk]:
        for n, token in enumerate(_TOKEN.findall(self._answer(messages)), 1):
            yield ChatGenerationChunk(message=AIMessageChunk(content=token))
            if n % 64 == 0:  # a real provider waits on its socket; without a pause a long answer would hold the loop
                await asyncio.sleep(0)


def is_offline(model: str) -> bool:
    return model.startswith("offline-")


def chat_model_for(model: str, temperature: float, secret: str | None) -> BaseChatModel:
    if is_offline(model):
        return OfflineEchoChatModel(model=model)
    raise NodeError(f"model {model!r} has no provider in this executor yet; use offline-echo")
