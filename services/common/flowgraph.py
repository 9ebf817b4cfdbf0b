"""Validation of a flow_data graph, shared by the workflow service (on save) and the executor (before a run).

Pure Python: no I/O, and every problem is reported at once, each named by its place in the graph, e.g.
`flow_data.nodes[llm-1].data.model`. Validating never executes anything from the graph.

Problems are of two kinds. A *malformed* graph is not a graph at all (lists that are not lists, missing or
duplicate ids, edges to nodes that do not exist, NaN, over a size limit): nothing may store it. An
*incomplete* graph is a well-formed draft that cannot run yet (no end node, a required parameter still
empty, a cycle without a loop node): a canvas autosaves those, so saving accepts them as warnings
(`Problem.draft_ok`), while running refuses any problem.
"""

import json
from dataclasses import dataclass, field


@dataclass(frozen=True)
class NodeType:
    """What validation needs to know of a node type."""

    required: tuple[str, ...] = ()
    # Named output handles; empty means a single default handle (any sourceHandle is accepted).
    outputs: tuple[str, ...] = ()
    inputs: tuple[str, ...] = ()


@dataclass
class Catalog:
    types: dict[str, NodeType]
    # True when it is the executor's own catalog: a type missing from it is then a problem, not a guess.
    authoritative: bool
    warnings: list[str] = field(default_factory=list)


START, END, LOOP = "start", "end", "loop"


@dataclass(frozen=True)
class Limits:
    max_nodes: int
    max_edges: int
    max_bytes: int
    # JSON nesting of flow_data. Each level is two protobuf messages (Struct, Value) and protobuf parsers stop
    # at 100, so a deeper graph could be saved but not read back by a client: refuse it on the way in.
    max_depth: int = 32


@dataclass(frozen=True)
class Problem:
    field: str
    description: str
    # True: the graph is an incomplete draft here (may be saved, cannot run); False: it is malformed.
    draft_ok: bool


MAX_ID_LENGTH = 100


def _short(value) -> str:
    """A user's value quoted in a message: bounded, so the error itself stays small."""
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


def _depth_exceeds(value, limit: int) -> bool:
    """Iterative, so a pathological document is a problem, never a RecursionError."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def strongly_connected(nodes: list[str], successors: dict[str, list[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative (graphs from users can be deep)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for root in nodes:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, child_i = work.pop()
            if child_i == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            children = successors.get(node, [])
            if child_i < len(children):
                work.append((node, child_i + 1))
                child = children[child_i]
                if child not in index:
                    work.append((child, 0))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(component)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return components


def field_name(prefix: str, field: str) -> str:
    """A graph's `field` named from the request's root: ("workflow.flow_data.", "nodes[a]") -> "...nodes[a]"."""
    return f"{prefix}{field}" if field else prefix.rstrip(".")


class _Report:
    """Collects problems, naming each by where the graph sits in the request (`prefix`)."""

    def __init__(self, prefix: str):
        self.prefix, self.problems = prefix, []

    def _add(self, field: str, description: str, draft_ok: bool) -> None:
        self.problems.append(Problem(field_name(self.prefix, field), description, draft_ok))

    def malformed(self, field: str, description: str) -> None:
        self._add(field, description, False)

    def incomplete(self, field: str, description: str) -> None:
        self._add(field, description, True)


def validate(flow: dict, catalog: Catalog, limits: Limits, prefix: str = "flow_data.") -> list[Problem]:
    """Every problem of `flow`; `prefix` names where the graph sits in the request, e.g. `workflow.flow_data.`."""
    report = _Report(prefix)
    parts = _check_document(flow, limits, report)
    if parts is None:
        return report.problems
    nodes, edges = parts
    types = _check_nodes(nodes, catalog, report)
    successors, connected = _check_edges(edges, types, catalog, report)
    _check_shape(types, successors, connected, report)
    return report.problems


def _check_document(flow, limits: Limits, report: _Report) -> tuple[list, list] | None:
    """(nodes, edges) within the whole-document limits; None when the graph cannot be examined further."""
    if _depth_exceeds(flow, limits.max_depth):
        report.malformed("", f"is nested deeper than {limits.max_depth} levels")
        return None
    try:
        size = len(json.dumps(flow, separators=(",", ":"), allow_nan=False))
    except ValueError:  # NaN or Infinity (a gRPC client can send them in a Struct): not JSON, JSONB refuses them
        report.malformed("", "numbers must be finite (no NaN or Infinity)")
        return None
    if size > limits.max_bytes:
        report.malformed("", f"is larger than {limits.max_bytes} bytes")
        return None
    nodes, edges = (flow.get("nodes", []), flow.get("edges", [])) if isinstance(flow, dict) else (None, None)
    if not isinstance(nodes, list) or not isinstance(edges, list):
        report.malformed("", "must have a list of nodes and a list of edges")
        return None
    if len(nodes) > limits.max_nodes:
        report.malformed("nodes", f"has {len(nodes)} nodes; the limit is {limits.max_nodes}")
    if len(edges) > limits.max_edges:
        report.malformed("edges", f"has {len(edges)} edges; the limit is {limits.max_edges}")
    return None if report.problems else (nodes, edges)


def _check_nodes(nodes: list, catalog: Catalog, report: _Report) -> dict[str, str]:
    """Node id -> type name ("" when the type is malformed) of every node with a usable id."""
    types: dict[str, str] = {}
    for position, node in enumerate(nodes):
        if not isinstance(node, dict) or not isinstance(node.get("id"), str) or not node.get("id"):
            report.malformed(f"nodes[{position}].id", "every node needs a non-empty string id")
            continue
        node_id = node["id"]
        if len(node_id) > MAX_ID_LENGTH:
            report.malformed(f"nodes[{position}].id", f"must be at most {MAX_ID_LENGTH} characters")
            continue
        if node_id in types:
            report.malformed(f"nodes[{node_id}].id", "duplicate node id")
            continue
        node_type = node.get("type")
        if not isinstance(node_type, str) or not node_type or len(node_type) > MAX_ID_LENGTH:
            report.malformed(f"nodes[{node_id}].type",
                             f"is required (a node type name of at most {MAX_ID_LENGTH} characters)")
            types[node_id] = ""
            continue
        types[node_id] = node_type
        data = node.get("data", {})
        if not isinstance(data, dict):
            report.malformed(f"nodes[{node_id}].data", "must be an object")
            continue
        spec = catalog.types.get(node_type)
        if spec is None:
            if catalog.authoritative:
                report.incomplete(f"nodes[{node_id}].type", f"unknown node type {_short(node_type)}")
            continue
        for param in spec.required:
            if data.get(param) in (None, "", [], {}):
                report.incomplete(f"nodes[{node_id}].data.{param}", f"is required for a {node_type} node")
    return types


def _check_edges(edges: list, types: dict[str, str], catalog: Catalog,
                 report: _Report) -> tuple[dict[str, list[str]], set[str]]:
    """(successors of each node, nodes touched by an edge) over the edges that join two existing nodes."""
    successors: dict[str, list[str]] = {node_id: [] for node_id in types}
    connected: set[str] = set()
    edge_ids: set[str] = set()
    for position, edge in enumerate(edges):
        if not isinstance(edge, dict):
            report.malformed(f"edges[{position}]", "must be an object")
            continue
        edge_id = edge.get("id") or f"{position}"
        if not isinstance(edge_id, str) or len(edge_id) > MAX_ID_LENGTH:
            report.malformed(f"edges[{position}].id", f"must be a string of at most {MAX_ID_LENGTH} characters")
            continue
        if edge_id in edge_ids:
            report.malformed(f"edges[{edge_id}].id", "duplicate edge id")
        edge_ids.add(edge_id)
        source, target = edge.get("source"), edge.get("target")
        for end, node_id in (("source", source), ("target", target)):
            if not isinstance(node_id, str) or not node_id:
                report.malformed(f"edges[{edge_id}].{end}", "must be the id of a node")
            elif node_id not in types:
                report.malformed(f"edges[{edge_id}].{end}", f"points to a node that does not exist: {_short(node_id)}")
        if not all(isinstance(n, str) and n in types for n in (source, target)):
            continue
        _check_handle(edge, edge_id, "sourceHandle", types[source], catalog, report)
        _check_handle(edge, edge_id, "targetHandle", types[target], catalog, report)
        successors[source].append(target)
        connected.update((source, target))
    return successors, connected


def _check_handle(edge: dict, edge_id: str, key: str, node_type: str, catalog: Catalog, report: _Report) -> None:
    spec = catalog.types.get(node_type)
    names = (spec.outputs if key == "sourceHandle" else spec.inputs) if spec else ()
    handle = edge.get(key)
    if names and handle not in names:
        kind = "outputs" if key == "sourceHandle" else "inputs"
        report.incomplete(f"edges[{edge_id}].{key}",
                          f"a {node_type} node has {kind} {', '.join(names)}; got {_short(handle)}")


def _check_shape(types: dict[str, str], successors: dict[str, list[str]], connected: set[str],
                 report: _Report) -> None:
    """One start, an end reachable from it, every node connected, every cycle through a loop node."""
    starts = [n for n, t in types.items() if t == START]
    ends = {n for n, t in types.items() if t == END}
    if len(starts) != 1:
        report.incomplete("nodes", f"needs exactly one start node; found {len(starts)}")
    if not ends:
        report.incomplete("nodes", "needs at least one end node")
    if len(starts) == 1 and ends:
        seen, frontier = {starts[0]}, [starts[0]]
        while frontier:
            for nxt in successors.get(frontier.pop(), []):
                if nxt not in seen:
                    seen.add(nxt)
                    frontier.append(nxt)
        if not ends & seen:
            report.incomplete(f"nodes[{starts[0]}]", "no end node is reachable from the start node")
    if len(types) > 1:  # a lone node is the "needs a start/end" problem, not also an unconnected one
        for node_id in types:
            if node_id not in connected:
                report.incomplete(f"nodes[{node_id}]", "is not connected to any other node")

    for component in strongly_connected(list(types), successors):
        cyclic = len(component) > 1 or component[0] in successors.get(component[0], [])
        if cyclic and not any(types[n] == LOOP for n in component):
            members = sorted(component)
            named = ", ".join(members[:5]) + (f" and {len(members) - 5} more" if len(members) > 5 else "")
            report.incomplete(f"nodes[{members[0]}]", f"cycle through {named} has no loop node; "
                                                      "use a loop node to repeat steps (it bounds iterations)")
