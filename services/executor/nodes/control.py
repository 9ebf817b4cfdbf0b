"""Control flow: start, end, condition, router, loop, merge, template, human approval, sub-workflow."""

import asyncio
from typing import Any

from langgraph.types import interrupt

from services.executor.engine.expressions import (
    ExpressionError,
    compile_expression,
    compile_template,
    evaluate,
    render,
)
from services.executor.nodes.base import (
    Node,
    NodeContext,
    NodeError,
    NodeResult,
    ParamError,
    int_param,
    number_param,
    text_param,
)


def variables(ctx: NodeContext) -> dict[str, Any]:
    """Names an expression or template sees: input, inputs (by node id), outputs, run_input, and the
    primary input's own keys when it is an object (so `{question}` works on {"question": ...})."""
    names = dict(ctx.input) if isinstance(ctx.input, dict) else {}
    names.update(input=ctx.input, inputs=ctx.inputs, outputs=ctx.outputs, run_input=ctx.run_input)
    return names


def expression_param(params: dict, name: str, *, required: bool = True) -> str:
    source = text_param(params, name, required=required, max_length=2000)
    if source:
        try:
            compile_expression(source)
        except ExpressionError as exc:
            raise ParamError(name, str(exc)) from None
    return source


class Start(Node):
    type = "start"
    display_name = "Start"
    description = "Where a run begins; its output is the run's input."

    async def run(self, ctx: NodeContext) -> NodeResult:
        return NodeResult(ctx.run_input)


class End(Node):
    type = "end"
    display_name = "End"
    description = "Where a run ends; its input becomes the run's output."

    async def run(self, ctx: NodeContext) -> NodeResult:
        return NodeResult(ctx.input)


class Condition(Node):
    type = "condition"
    display_name = "Condition"
    description = "Continues on `true` or `false` by a sandboxed expression over the input and earlier outputs."
    params_schema = {"type": "object", "required": ["expression"], "properties": {
        "expression": {"type": "string", "description": "e.g. 'refund' in input.lower()"}}}
    outputs = ("true", "false")

    def configure(self, params: dict) -> None:
        self.expression = expression_param(params, "expression")

    async def run(self, ctx: NodeContext) -> NodeResult:
        try:
            verdict = bool(evaluate(self.expression, variables(ctx)))
        except ExpressionError as exc:
            raise NodeError(f"expression failed: {exc}") from None
        return NodeResult(ctx.input, route="true" if verdict else "false")


class Router(Node):
    type = "router"
    display_name = "Router"
    description = "Continues on the first route whose expression is true, else on `default`."
    params_schema = {"type": "object", "required": ["routes"], "properties": {
        "routes": {"type": "array", "minItems": 1, "maxItems": 50, "items": {
            "type": "object", "required": ["name", "expression"],
            "properties": {"name": {"type": "string"}, "expression": {"type": "string"}}}}}}

    def configure(self, params: dict) -> None:
        routes = params.get("routes")
        if not isinstance(routes, list) or not 1 <= len(routes) <= 50:
            raise ParamError("routes", "must be a list of 1 to 50 {name, expression} objects")
        self.routes: list[tuple[str, str]] = []
        for i, route in enumerate(routes):
            if not isinstance(route, dict):
                raise ParamError(f"routes[{i}]", "must be an object with name and expression")
            name = text_param(route, "name", required=True, max_length=100)
            if name == "default" or name in (r[0] for r in self.routes):
                raise ParamError(f"routes[{i}].name", "must be unique and not 'default'")
            try:
                self.routes.append((name, expression_param(route, "expression")))
            except ParamError as exc:
                raise ParamError(f"routes[{i}].{exc.field}", exc.description) from None

    @classmethod
    def handles(cls, params: dict) -> tuple[str, ...]:
        routes = params.get("routes") if isinstance(params.get("routes"), list) else []
        return (*(r.get("name") for r in routes if isinstance(r, dict) and isinstance(r.get("name"), str)), "default")

    async def run(self, ctx: NodeContext) -> NodeResult:
        names = variables(ctx)
        for name, expression in self.routes:
            try:
                if evaluate(expression, names):
                    return NodeResult(ctx.input, route=name)
            except ExpressionError as exc:
                raise NodeError(f"route {name!r}: {exc}") from None
        return NodeResult(ctx.input, route="default")


class Loop(Node):
    type = "loop"
    display_name = "Loop"
    description = ("Repeats the steps on `body` (which lead back here) at most max_iterations times, while the "
                   "optional condition holds; then continues on `done`.")
    params_schema = {"type": "object", "required": ["max_iterations"], "properties": {
        "max_iterations": {"type": "integer", "minimum": 1, "maximum": 1000},
        "condition": {"type": "string", "description": "keep looping while true; sees `iteration`"}}}
    outputs = ("body", "done")

    def configure(self, params: dict) -> None:
        self.max_iterations = int_param(params, "max_iterations", default=0, minimum=1, maximum=1000)
        self.condition = expression_param(params, "condition", required=False)

    async def run(self, ctx: NodeContext) -> NodeResult:
        iteration = int(ctx.memory.get("iteration", 0)) + 1
        more = iteration <= self.max_iterations
        if more and self.condition:
            try:
                more = bool(evaluate(self.condition, {**variables(ctx), "iteration": iteration}))
            except ExpressionError as exc:
                raise NodeError(f"condition failed: {exc}") from None
        if more:
            return NodeResult({"iteration": iteration, "value": ctx.input}, route="body",
                              memory={"iteration": iteration})
        # Done: reset, so an enclosing loop that comes back here starts a fresh count.
        return NodeResult(ctx.input, route="done", memory={"iteration": 0})


class Merge(Node):
    type = "merge"
    display_name = "Merge"
    description = "Waits for every branch still running, then continues with their outputs by node id."

    async def run(self, ctx: NodeContext) -> NodeResult:
        return NodeResult(dict(ctx.inputs))


class Template(Node):
    type = "template"
    category = "chains"
    display_name = "Template"
    description = ("Renders text in a sandbox: Jinja syntax ({{ input }}, {% for %}), or {name} placeholders "
                   "filled from the input's keys, `input`, `inputs` and `outputs`.")
    params_schema = {"type": "object", "required": ["template"], "properties": {
        "template": {"type": "string", "maxLength": 100000}}}

    def configure(self, params: dict) -> None:
        self.template = text_param(params, "template", required=True)
        try:
            compile_template(self.template)
        except ExpressionError as exc:
            raise ParamError("template", str(exc)) from None

    async def run(self, ctx: NodeContext) -> NodeResult:
        try:
            return NodeResult(render(self.template, variables(ctx)))
        except ExpressionError as exc:
            raise NodeError(f"template failed: {exc}") from None


class HumanApproval(Node):
    type = "human_approval"
    display_name = "Human approval"
    description = ("Pauses the run until someone answers with ResumeExecution {approved, comment}; continues "
                   "on `approved` or `rejected`.")
    params_schema = {"type": "object", "required": ["prompt"], "properties": {"prompt": {"type": "string"}}}
    outputs = ("approved", "rejected")
    interrupts = True
    default_timeout_seconds = 0  # waiting for a person is not a timeout

    def configure(self, params: dict) -> None:
        self.prompt = text_param(params, "prompt", required=True, max_length=10_000)

    async def run(self, ctx: NodeContext) -> NodeResult:
        answer = interrupt({"node_id": self.node_id, "prompt": self.prompt, "input": ctx.input})
        approved = answer.get("approved") if isinstance(answer, dict) else answer
        if isinstance(approved, str):
            approved = approved.strip().lower() in ("true", "yes", "approve", "approved", "ok")
        output = {"approved": bool(approved), "answer": answer, "input": ctx.input}
        return NodeResult(output, route="approved" if approved else "rejected")


class SubWorkflow(Node):
    type = "sub_workflow"
    display_name = "Sub-workflow"
    description = ("Runs another workflow of the organization with this node's input; its output is this "
                   "node's output. The version is pinned when the run starts (or set `version`).")
    params_schema = {"type": "object", "required": ["workflow_id"], "properties": {
        "workflow_id": {"type": "string"}, "version": {"type": "integer", "minimum": 1}}}

    def configure(self, params: dict) -> None:
        self.workflow_id = text_param(params, "workflow_id", required=True, max_length=100)
        self.version = int_param(params, "version", default=0, minimum=0, maximum=1_000_000)

    def workflows(self) -> list[tuple[str, int]]:
        return [(self.workflow_id, self.version)]

    async def run(self, ctx: NodeContext) -> NodeResult:
        return NodeResult(await ctx.services.run_subworkflow(self.workflow_id, self.version, ctx.input, ctx.node_id))


class Delay(Node):
    type = "delay"
    display_name = "Delay"
    description = "Waits `seconds` (e.g. between calls to a rate-limited API), then passes its input on."
    params_schema = {"type": "object", "required": ["seconds"], "properties": {
        "seconds": {"type": "number", "minimum": 0, "maximum": 3600}}}
    default_timeout_seconds = 0  # its own duration is the point; the run timeout still bounds it

    def configure(self, params: dict) -> None:
        self.seconds = number_param(params, "seconds", default=-1, minimum=0, maximum=3600)

    async def run(self, ctx: NodeContext) -> NodeResult:
        await asyncio.sleep(self.seconds)
        return NodeResult(ctx.input)
