"""flow_data -> a compiled LangGraph StateGraph, strictly validated; cached by (workflow id, version).

Each flow node becomes one LangGraph node that reads its predecessors' outputs from the state, runs the node
(with retries, a timeout and events: engine.run.RunContext.execute_node) and writes its output back. Edges:
- a node with named outputs (condition, router, loop, human approval) routes by the handle it returns, to
  every edge on that handle (several edges: a parallel fan-out);
- other nodes with several outgoing edges fan out in parallel;
- a merge node is deferred: it runs once every branch still in flight has finished (fan-in);
- end nodes lead to LangGraph's END; cycles are allowed only through a loop node, which bounds them.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Annotated, Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from services.common.errors import FailedPrecondition, FieldViolation
from services.common.flowgraph import Catalog, Limits, NodeType, validate
from services.executor.nodes.base import Node, NodeContext, ParamError, registry

MAX_ATTEMPTS, MAX_BACKOFF, MAX_TIMEOUT = 10, 60.0, 3600.0


def _merge(left: dict | None, right: dict | None) -> dict:
    return {**(left or {}), **(right or {})}


class RunState(TypedDict, total=False):
    outputs: Annotated[dict, _merge]  # node id -> its latest output
    order: Annotated[dict, _merge]  # node id -> when it last completed (1, 2, ...): the latest predecessor wins
    routes: Annotated[dict, _merge]  # node id -> the handle it chose
    memory: Annotated[dict, _merge]  # node id -> what it keeps between visits


@dataclass(frozen=True)
class StepPolicy:
    attempts: int
    backoff_seconds: float
    timeout_seconds: float  # 0: none


@dataclass
class CompiledWorkflow:
    graph: Any  # CompiledStateGraph
    nodes: dict[str, Node]
    end_ids: frozenset[str]
    interrupts: bool
    subworkflows: list[tuple[str, str, int]] = field(default_factory=list)  # (node id, workflow id, version)
    recursion_limit: int = 100
    flow: dict = field(default_factory=dict)  # the flow_data it was compiled from


def node_catalog() -> Catalog:
    types = {}
    for node_type, cls in registry().items():
        outputs = cls.outputs if node_type != "router" else ()
        types[node_type] = NodeType(required=tuple(cls.params_schema.get("required", ())), outputs=outputs,
                                    inputs=cls.inputs)
    return Catalog(types, authoritative=True)


def _policy(node_id: str, cls: type[Node], data: dict, problems: list[FieldViolation]) -> StepPolicy:
    retry = data.get("retry") or {}
    attempts, backoff, timeout = 1, 1.0, cls.default_timeout_seconds
    try:
        if not isinstance(retry, dict):
            raise ParamError("retry", "must be an object {max_attempts, backoff_seconds}")
        attempts = retry.get("max_attempts", 1)
        if not isinstance(attempts, int | float) or isinstance(attempts, bool) or not 1 <= attempts <= MAX_ATTEMPTS:
            raise ParamError("retry.max_attempts", f"must be an integer from 1 to {MAX_ATTEMPTS}")
        backoff = retry.get("backoff_seconds", 1.0)
        if not isinstance(backoff, int | float) or isinstance(backoff, bool) or not 0 <= backoff <= MAX_BACKOFF:
            raise ParamError("retry.backoff_seconds", f"must be a number from 0 to {MAX_BACKOFF}")
        timeout = data.get("timeout_seconds", timeout)
        if not isinstance(timeout, int | float) or isinstance(timeout, bool) or not 0 <= timeout <= MAX_TIMEOUT:
            raise ParamError("timeout_seconds", f"must be a number of seconds from 0 (none) to {MAX_TIMEOUT:.0f}")
    except ParamError as exc:
        problems.append(FieldViolation(f"flow_data.nodes[{node_id}].data.{exc.field}", exc.description))
    return StepPolicy(int(attempts), float(backoff), float(timeout))


def compile_workflow(flow: dict, limits: Limits, checkpointer=None) -> CompiledWorkflow:
    """Raises FailedPrecondition listing every problem (structure, unknown types, parameters)."""
    found = validate(flow, node_catalog(), limits)
    problems = [FieldViolation(p.field, p.description) for p in found]
    if any(not p.draft_ok for p in found):  # malformed: node parameters cannot even be read
        raise _not_runnable(problems)
    kinds = registry()
    nodes: dict[str, Node] = {}
    policies: dict[str, StepPolicy] = {}
    for spec in flow["nodes"]:
        node_id, data = spec["id"], spec.get("data") or {}
        cls = kinds.get(spec["type"])
        if cls is None:
            continue  # reported by validate
        try:
            nodes[node_id] = cls(node_id, data)
        except ParamError as exc:
            problems.append(FieldViolation(f"flow_data.nodes[{node_id}].data.{exc.field}", exc.description))
        policies[node_id] = _policy(node_id, cls, data, problems)
    if problems:
        raise _not_runnable(problems)
    predecessors: dict[str, list[str]] = {n: [] for n in nodes}
    by_handle: dict[str, dict[str | None, list[str]]] = {n: {} for n in nodes}
    for edge in flow["edges"]:
        source, target = edge["source"], edge["target"]
        if source not in nodes or target not in nodes:
            continue  # a node whose parameters failed above
        if target not in predecessors[target] and source not in predecessors[target]:
            predecessors[target].append(source)
        node = nodes[source]
        handles = node.handles(node.params) if hasattr(node, "handles") else node.outputs
        handle = edge.get("sourceHandle") if handles else None
        if handles and handle not in handles:
            problems.append(FieldViolation(f"flow_data.edges[{edge.get('id', '')}].sourceHandle",
                                           f"a {node.type} node has outputs {', '.join(handles)}; got {handle!r}"))
        by_handle[source].setdefault(handle, [])
        if target not in by_handle[source][handle]:
            by_handle[source][handle].append(target)
    if problems:
        raise _not_runnable(problems)

    graph = StateGraph(RunState, context_schema=object)
    for node_id, node in nodes.items():
        graph.add_node(node_id, _step(node, predecessors[node_id], policies[node_id]), defer=node.type == "merge")
    start_id = next(n for n, node in nodes.items() if node.type == "start")
    graph.add_edge(START, start_id)
    end_ids = frozenset(n for n, node in nodes.items() if node.type == "end")
    for node_id, node in nodes.items():
        routes = by_handle[node_id]
        if node.type == "end":
            graph.add_edge(node_id, END)
        elif None in routes or not routes:
            for target in routes.get(None, []):
                graph.add_edge(node_id, target)
            if not routes:
                graph.add_edge(node_id, END)
        else:
            destinations = sorted({t for targets in routes.values() for t in targets})
            graph.add_conditional_edges(node_id, _router(node_id, routes), [*destinations, END])
    loops = sum(node.max_iterations for node in nodes.values() if node.type == "loop")
    return CompiledWorkflow(
        graph=graph.compile(checkpointer=checkpointer, name="workflow"),
        nodes=nodes, end_ids=end_ids, interrupts=any(n.interrupts for n in nodes.values()),
        subworkflows=[(n.node_id, workflow_id, version) for n in nodes.values() for workflow_id, version in n.workflows()],
        # LangGraph counts supersteps; loops multiply them. Generous, but still a bound.
        recursion_limit=max(25, (len(nodes) + 1) * (loops + 1) * 2), flow=flow)


class WorkflowNotRunnable(FailedPrecondition):
    """FAILED_PRECONDITION with one google.rpc.PreconditionFailure violation per problem (the first 20)."""

    reason = "WORKFLOW_INVALID"

    def __init__(self, problems: list[FieldViolation]):
        self.problems = problems[:20]
        message = "the workflow cannot run: " + "; ".join(f"{p.field}: {p.description}" for p in self.problems)
        if len(problems) > len(self.problems):
            message += f"; and {len(problems) - len(self.problems)} more (ValidateWorkflow lists them all)"
        super().__init__(message[:4000])

    def details(self) -> list:
        from google.rpc import error_details_pb2

        return [*super().details(), error_details_pb2.PreconditionFailure(violations=[
            error_details_pb2.PreconditionFailure.Violation(type="WORKFLOW_INVALID", subject=p.field,
                                                            description=p.description) for p in self.problems])]


def _not_runnable(problems: list[FieldViolation]) -> WorkflowNotRunnable:
    unique = {p.field: p for p in reversed(problems)}  # a missing parameter is found twice: keep the first
    return WorkflowNotRunnable([p for p in problems if unique.get(p.field) is p])


def _router(node_id: str, routes: dict[str | None, list[str]]):
    def route(state: RunState):
        return routes.get(state.get("routes", {}).get(node_id)) or END

    route.__name__ = f"route_{node_id}"
    return route


def _step(node: Node, predecessors: list[str], policy: StepPolicy):
    node_id, is_merge, is_start = node.node_id, node.type == "merge", node.type == "start"

    async def step(state: RunState, runtime: Runtime) -> dict:
        run = runtime.context
        outputs, order = state.get("outputs") or {}, state.get("order") or {}
        inputs = {p: outputs[p] for p in predecessors if p in outputs}
        if is_start:
            primary = run.run_input
        elif is_merge:
            primary = inputs
        elif len(inputs) == 1:
            primary = next(iter(inputs.values()))
        elif inputs:
            primary = inputs[max(inputs, key=lambda p: order.get(p, 0))]
        else:
            primary = None
        ctx = NodeContext(node_id=node_id, input=primary, inputs=inputs, outputs=outputs, run_input=run.run_input,
                          memory=(state.get("memory") or {}).get(node_id, {}), messages=run.messages,
                          emit=run.emitter(node_id), services=run)
        result = await run.execute_node(node, ctx, policy)
        update: dict = {"outputs": {node_id: result.output},
                        "order": {node_id: max(order.values(), default=0) + 1}}
        if result.route is not None:
            update["routes"] = {node_id: result.route}
        if result.memory is not None:
            update["memory"] = {node_id: result.memory}
        return update

    step.__name__ = f"node_{node_id}"
    return step


class GraphCache:
    """Compiled graphs by (workflow id, version, checkpointed): versions are immutable, so entries never go
    stale; least recently used ones are dropped past `size`."""

    def __init__(self, size: int):
        self.size = size
        self._items: OrderedDict[tuple, CompiledWorkflow] = OrderedDict()

    def get(self, key: tuple) -> CompiledWorkflow | None:
        item = self._items.get(key)
        if item is not None:
            self._items.move_to_end(key)
        return item

    def put(self, key: tuple, item: CompiledWorkflow) -> None:
        self._items[key] = item
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)



