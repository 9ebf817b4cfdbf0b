"""Output parsers: JSON (optionally against a JSON Schema, with one optional repair by a model), structured
output through the provider's native mode, regex, list."""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema
import regex
from langchain_core.messages import HumanMessage, SystemMessage

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
from services.executor.nodes.chat import MODEL_PROPERTIES, ModelNode, ask, conversation
from services.executor.nodes.llms import ModelSpec, chat_model, model_spec, provider_errors

MAX_TEXT = 200_000
MATCH_SECONDS = 0.5
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)
REPAIR_PROMPT = ("The user sends text that should be JSON but is not valid, with the problem. Answer with the "
                 "corrected JSON only, no explanation.")


def schema_param(params: dict, name: str = "schema", *, required: bool = False) -> dict | None:
    schema = params.get(name)
    if schema is None and not required:
        return None
    if not isinstance(schema, dict) or not schema:
        raise ParamError(name, "must be a JSON Schema object, e.g. {\"type\": \"object\", \"properties\": {...}}")
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise ParamError(name, f"is not a valid JSON Schema: {exc.message}") from None
    return schema


def parse_json(text: str, schema: dict | None) -> Any:
    """JSON from a model's answer (a code fence or the outermost object/array is taken); ValueError says why."""
    candidate = text.strip()
    fenced = _FENCE.search(candidate)
    if fenced:
        candidate = fenced.group(1).strip()
    elif candidate[:1] not in ("{", "["):
        starts = [i for i in (candidate.find("{"), candidate.find("[")) if i >= 0]
        if starts:
            candidate = candidate[min(starts):]
    try:
        value = json.loads(candidate)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    if schema is not None:
        error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(value))
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "the top level"
            raise ValueError(f"does not match the schema at {where}: {error.message}")
    return value


class JsonParser(Node):
    type = "json_parser"
    category = "output"
    display_name = "JSON parser"
    description = ("Parses the input text as JSON (code fences allowed), optionally checks it against a JSON "
                   "Schema; with `repair_model`, one model call may fix invalid JSON before failing.")
    params_schema = {"type": "object", "properties": {
        "schema": {"type": "object"},
        "repair_model": {"type": "object", "description": "model parameters (model, provider, credential, ...) "
                                                          "for one repair attempt", "properties": MODEL_PROPERTIES}}}

    def configure(self, params: dict) -> None:
        self.schema = schema_param(params)
        repair = params.get("repair_model")
        self.repair: ModelSpec | None = None
        if repair is not None:
            if not isinstance(repair, dict):
                raise ParamError("repair_model", "must be model parameters {model, ...}")
            try:
                self.repair = model_spec(repair, temperature=0)
            except ParamError as exc:
                raise ParamError(f"repair_model.{exc.field}", exc.description) from None

    async def run(self, ctx: NodeContext) -> NodeResult:
        text = as_text(ctx.input)[:MAX_TEXT]
        try:
            return NodeResult(parse_json(text, self.schema))
        except ValueError as exc:
            if self.repair is None:
                raise NodeError(f"the input is {exc}", code="PARSE_FAILED", retryable=False) from None
            problem = str(exc)
        ctx.emit("repair_attempt", {"error": problem})
        schema_hint = f"\nIt must match this JSON Schema: {json.dumps(self.schema)}" if self.schema else ""
        fixed = await ask(self.repair, [SystemMessage(REPAIR_PROMPT + schema_hint),
                                        HumanMessage(f"Problem: {problem}\n\nText:\n{text}")], ctx)
        try:
            return NodeResult(parse_json(fixed, self.schema))
        except ValueError as exc:
            raise NodeError(f"the input is {problem}; the repair attempt is {exc} too", code="PARSE_FAILED",
                            retryable=False) from None


class StructuredOutput(ModelNode):
    type = "structured_output"
    category = "output"
    display_name = "Structured output"
    description = ("Asks a chat model for an answer that matches a JSON Schema, through the provider's native "
                   "structured output (JSON schema or tool calling); the output is the object.")
    params_schema = {"type": "object", "required": ["model", "schema"], "properties": {
        **MODEL_PROPERTIES, "schema": {"type": "object"}, "system_prompt": {"type": "string"}}}
    default_temperature = 0.0

    def configure_node(self, params: dict) -> None:
        self.schema = schema_param(params, required=True)
        if self.schema.get("type") != "object":
            raise ParamError("schema", "must describe an object ({\"type\": \"object\", ...})")
        self.schema = {"title": "answer", "description": "The answer.", **self.schema}
        self.system_prompt = text_param(params, "system_prompt", max_length=100_000)

    async def run(self, ctx: NodeContext) -> NodeResult:
        messages = ([SystemMessage(self.system_prompt)] if self.system_prompt else []) + conversation(ctx)
        if self.spec.provider == "offline":  # no native mode: the scripted answer must be the JSON
            answer = await ask(self.spec, messages, ctx)
        else:
            model = await chat_model(self.spec, ctx)
            method = "function_calling" if self.spec.provider == "anthropic" else "json_schema"
            with provider_errors(self.spec):
                raw = await model.with_structured_output(self.schema, method=method, include_raw=True).ainvoke(messages)
            if raw.get("parsed") is not None and raw.get("parsing_error") is None:
                answer = raw["parsed"]
            else:
                message = raw.get("raw")
                answer = message.content if message is not None and isinstance(message.content, str) else ""
                if message is not None and getattr(message, "tool_calls", None):
                    answer = message.tool_calls[0]["args"]
        try:
            value = parse_json(answer if isinstance(answer, str) else json.dumps(answer), self.schema)
        except ValueError as exc:
            raise NodeError(f"the model's answer is {exc}", code="PARSE_FAILED") from None
        return NodeResult(value)


class RegexParser(Node):
    type = "regex_parser"
    category = "output"
    display_name = "Regex parser"
    description = ("Extracts from the input text with a regular expression: named groups as an object (the first "
                   "match), or with `all`, a list of every match.")
    params_schema = {"type": "object", "required": ["pattern"], "properties": {
        "pattern": {"type": "string", "maxLength": 500}, "all": {"type": "boolean"},
        "ignore_case": {"type": "boolean"}}}

    def configure(self, params: dict) -> None:
        pattern = text_param(params, "pattern", required=True, max_length=500)
        try:
            self.pattern = regex.compile(pattern, regex.IGNORECASE if params.get("ignore_case") is True else 0)
        except regex.error as exc:
            raise ParamError("pattern", f"is not a regular expression: {exc}") from None
        self.all = params.get("all", False) is True

    def _value(self, match: regex.Match) -> Any:
        if self.pattern.groupindex:
            return match.groupdict()
        return match.group(1) if self.pattern.groups == 1 else (list(match.groups()) or match.group(0))

    async def run(self, ctx: NodeContext) -> NodeResult:
        # `regex` rather than `re`: a user's pattern can backtrack exponentially ((a+)+$), and matching runs on
        # the event loop, so it gets a time limit.
        text = as_text(ctx.input)[:MAX_TEXT]
        try:
            if self.all:
                return NodeResult([self._value(m) for m in self.pattern.finditer(text, timeout=MATCH_SECONDS)][:10_000])
            match = self.pattern.search(text, timeout=MATCH_SECONDS)
        except TimeoutError:
            raise NodeError(f"the pattern {self.pattern.pattern!r} took longer than {MATCH_SECONDS:g} s on this input "
                            "(catastrophic backtracking?); simplify it", code="PARSE_FAILED", retryable=False) from None
        if match is None:
            raise NodeError(f"the pattern {self.pattern.pattern!r} does not match the input", code="PARSE_FAILED",
                            retryable=False)
        return NodeResult(self._value(match))


_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+")


class ListParser(Node):
    type = "list_parser"
    category = "output"
    display_name = "List parser"
    description = ("Splits the input text into a list: by lines (bullets and numbering removed) or by a "
                   "separator such as ','; empty items dropped.")
    params_schema = {"type": "object", "properties": {
        "separator": {"type": "string", "maxLength": 10, "description": "default: new line"},
        "max_items": {"type": "integer", "minimum": 1, "maximum": 10000}}}

    def configure(self, params: dict) -> None:
        self.separator = text_param(params, "separator", default="\n", max_length=10)
        if self.separator == "":
            raise ParamError("separator", "must not be empty")
        self.max_items = int_param(params, "max_items", default=1000, minimum=1, maximum=10_000)

    async def run(self, ctx: NodeContext) -> NodeResult:
        items = [_BULLET.sub("", part).strip() for part in as_text(ctx.input)[:MAX_TEXT].split(self.separator)]
        return NodeResult([item for item in items if item][:self.max_items])
