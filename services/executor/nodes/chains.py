"""Chains: prompt template, LLM chain (a prompt template, then a model), sequential chain (several prompts,
each step's answer feeding the next). Map-reduce summarizing is the `summarize` node (documents.py).

Prompt templates fill `{name}` placeholders in one pass (`{{` and `}}` are literal braces): the values are
data, never evaluated as template syntax themselves. Names come from the input's keys, the run input's keys,
and `input`, `run_input`, `outputs` (by node id); a missing name is the node's error, listing them.
"""

from __future__ import annotations

import re
from typing import Any

from langchain_core.messages import HumanMessage, SystemMessage

from services.executor.nodes.base import (
    Node,
    NodeContext,
    NodeError,
    NodeResult,
    ParamError,
    as_text,
    text_param,
)
from services.executor.nodes.chat import MODEL_PROPERTIES, ModelNode, ask, stream_answer

_FIELD = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}|\{|\}")


def placeholders(template: str, field: str = "template") -> list[str]:
    """The names a template uses; ParamError for a brace that is neither a placeholder nor escaped."""
    names = []
    for match in _FIELD.finditer(template):
        token = match.group(0)
        if token in ("{", "}"):
            raise ParamError(field, f"unmatched {token!r} at {match.start()}: write {{{{ or }}}} for a literal brace, "
                                    "{name} for a variable")
        if match.group(1) and match.group(1) not in names:
            names.append(match.group(1))
    return names


def prompt_variables(ctx: NodeContext) -> dict[str, Any]:
    names: dict[str, Any] = {}
    for source in (ctx.run_input, ctx.input):
        if isinstance(source, dict):
            names.update(source)
    names.update(input=ctx.input, run_input=ctx.run_input, outputs=ctx.outputs)
    return names


def fill(template: str, values: dict[str, Any]) -> str:
    missing = [n for n in placeholders(template) if n not in values]
    if missing:
        raise NodeError(f"the prompt needs {', '.join(missing)}, which the input does not have "
                        f"(it has {', '.join(sorted(k for k in values if k != 'outputs')) or 'nothing'})")

    def value(match: re.Match) -> str:
        token = match.group(0)
        return token[0] if token in ("{{", "}}") else as_text(values[match.group(1)])

    return _FIELD.sub(value, template)


def template_param(params: dict, name: str = "template") -> str:
    template = text_param(params, name, required=True)
    placeholders(template, name)
    return template


class PromptTemplate(Node):
    type = "prompt_template"
    category = "chains"
    display_name = "Prompt template"
    description = ("Fills {name} placeholders from the input's keys (and input, run_input); outputs the prompt "
                   "text. Values are inserted as data, never evaluated.")
    params_schema = {"type": "object", "required": ["template"], "properties": {
        "template": {"type": "string", "maxLength": 100000, "description": "e.g. Answer briefly: {question}"}}}

    def configure(self, params: dict) -> None:
        self.template = template_param(params)

    async def run(self, ctx: NodeContext) -> NodeResult:
        return NodeResult(fill(self.template, prompt_variables(ctx)))


class LLMChain(ModelNode):
    type = "llm_chain"
    category = "chains"
    display_name = "LLM chain"
    description = "A prompt template filled from the input, then a chat model's answer to it (streamed)."
    params_schema = {"type": "object", "required": ["model", "prompt"], "properties": {
        **MODEL_PROPERTIES, "prompt": {"type": "string"}, "system_prompt": {"type": "string"}}}

    def configure_node(self, params: dict) -> None:
        self.prompt = template_param(params, "prompt")
        self.system_prompt = text_param(params, "system_prompt", max_length=100_000)

    async def run(self, ctx: NodeContext) -> NodeResult:
        messages = [SystemMessage(self.system_prompt)] if self.system_prompt else []
        messages.append(HumanMessage(fill(self.prompt, prompt_variables(ctx))))
        return NodeResult(await stream_answer(self.spec, messages, ctx))


class SequentialChain(ModelNode):
    type = "sequential_chain"
    category = "chains"
    display_name = "Sequential chain"
    description = ("Several prompts in order with one model: each step's answer is {input} of the next and "
                   "{<output_key>} of every later step. Outputs the last answer, or all of them by key.")
    params_schema = {"type": "object", "required": ["model", "steps"], "properties": {
        **MODEL_PROPERTIES,
        "steps": {"type": "array", "minItems": 1, "maxItems": 20, "items": {
            "type": "object", "required": ["prompt"],
            "properties": {"prompt": {"type": "string"}, "output_key": {"type": "string"}}}},
        "return_all": {"type": "boolean"}}}
    default_timeout_seconds = 300.0

    def configure_node(self, params: dict) -> None:
        steps = params.get("steps")
        if not isinstance(steps, list) or not 1 <= len(steps) <= 20:
            raise ParamError("steps", "must be a list of 1 to 20 steps {prompt, output_key?}")
        self.steps: list[tuple[str, str]] = []
        for i, step in enumerate(steps):
            if not isinstance(step, dict):
                raise ParamError(f"steps[{i}]", "must be an object {prompt, output_key?}")
            prompt = template_param(step, "prompt") if "prompt" in step else ""
            if not prompt:
                raise ParamError(f"steps[{i}].prompt", "is required")
            key = text_param(step, "output_key", default=f"step_{i + 1}", max_length=64)
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key) or key in [k for _, k in self.steps]:
                raise ParamError(f"steps[{i}].output_key", "must be a unique name of letters, digits and _")
            self.steps.append((prompt, key))
        self.return_all = params.get("return_all", False) is True

    async def run(self, ctx: NodeContext) -> NodeResult:
        values = prompt_variables(ctx)
        answers: dict[str, str] = {}
        for n, (prompt, key) in enumerate(self.steps, 1):
            messages = [HumanMessage(fill(prompt, values))]
            # Only the last step streams: earlier answers are intermediate.
            answer = await (stream_answer if n == len(self.steps) else ask)(self.spec, messages, ctx)
            ctx.emit("step_completed", {"step": n, "output_key": key})
            answers[key] = answer
            values.update({key: answer, "input": answer})
        return NodeResult(answers if self.return_all else answer)
