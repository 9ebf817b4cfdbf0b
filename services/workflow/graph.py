"""Structural validation of a flow_data graph. Pure Python: no I/O, every problem reported at once.

Each problem is a FieldViolation whose field names the node or edge, e.g. `nodes[llm-1].data.model`.
Validating never executes anything from the graph.
"""

import json
from dataclasses import dataclass

from services.common.errors import FieldViolation
from services.workflow.node_catalog import END, LOOP, START, Catalog


@dataclass(frozen=True)
class Limits:
    max_nodes: int
    max_edges: int
    max_bytes: int
    # JSON nesting of flow_data. Each level is two protobuf messages (Struct, Value) and protobuf parsers stop
    # at 100, so a deeper graph could be saved but not read back by a client: refuse it on the way in.
    max_depth: int = 32


MAX_ID_LENGTH = 100


def _short(value) -> str:
    """A user's value quoted in a message: bounded, so the error itself stays small."""
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


def _depth_exceeds(value, limit: int) -> bool:
    """Iterative, so a pathological document is a violation, never a RecursionError."""
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


def _strongly_connected(nodes: list[str], successors: dict[str, list[str]]) -> list[list[str]]:
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


def validate(flow: dict, catalog: Catalog, limits: Limits, prefix: str = "flow_data.") -> list[FieldViolation]:
    """`prefix` names where the graph sits in the request, e.g. `workflow.flow_data.`."""
    problems: list[FieldViolation] = []

    def problem(field: str, description: str) -> None:
        problems.append(FieldViolation(f"{prefix}{field}" if field else prefix.rstrip("."), description))

    if _depth_exceeds(flow, limits.max_depth):
        problem("", f"is nested deeper than {limits.max_depth} levels")
        return problems
    try:
        size = len(json.dumps(flow, separators=(",", ":"), allow_nan=False))
    except ValueError:  # NaN or Infinity (a gRPC client can send them in a Struct): not JSON, JSONB refuses them
        problem("", "numbers must be finite (no NaN or Infinity)")
        return problems
    if size > limits.max_bytes:
        problem("", f"is larger than {limits.max_bytes} bytes")
        return problems
    nodes, edges = flow.get("nodes", []), flow.get("edges", [])
    if not isinstance(nodes, list) or not isinstance(edges, list):
        problem("", "must have a list of nodes and a list of edges")
        return problems
    if len(nodes) > limits.max_nodes:
        problem("nodes", f"has {len(nodes)} nodes; the limit is {limits.max_nodes}")
    if len(edges) > limits.max_edges:
        problem("edges", f"has {len(edges)} edges; the limit is {limits.max_edges}")
    if problems:
        return problems

    types: dict[str, str] = {}
    for position, node in enumerate(nodes):
        if not isinstance(node, dict) or not isinstance(node.get("id"), str) or not node.get("id"):
            problem(f"nodes[{position}].id", "every node needs a non-empty string id")
            continue
        node_id = node["id"]
        if len(node_id) > MAX_ID_LENGTH:
            problem(f"nodes[{position}].id", f"must be at most {MAX_ID_LENGTH} characters")
            continue
        if node_id in types:
            problem(f"nodes[{node_id}].id", "duplicate node id")
            continue
        node_type = node.get("type")
        if not isinstance(node_type, str) or not node_type or len(node_type) > MAX_ID_LENGTH:
            problem(f"nodes[{node_id}].type", f"is required (a node type name of at most {MAX_ID_LENGTH} characters)")
            types[node_id] = ""
            continue
        types[node_id] = node_type
        data = node.get("data", {})
        if not isinstance(data, dict):
            problem(f"nodes[{node_id}].data", "must be an object")
            continue
        spec = catalog.types.get(node_type)
        if spec is None:
            if catalog.authoritative:
                problem(f"nodes[{node_id}].type", f"unknown node type {_short(node_type)}")
            continue
        for param in spec.required:
            if data.get(param) in (None, "", [], {}):
                problem(f"nodes[{node_id}].data.{param}", f"is required for a {node_type} node")

    successors: dict[str, list[str]] = {node_id: [] for node_id in types}
    edge_ids: set[str] = set()
    for position, edge in enumerate(edges):
        if not isinstance(edge, dict):
            problem(f"edges[{position}]", "must be an object")
            continue
        edge_id = edge.get("id") or f"{position}"
        if not isinstance(edge_id, str) or len(edge_id) > MAX_ID_LENGTH:
            problem(f"edges[{position}].id", f"must be a string of at most {MAX_ID_LENGTH} characters")
            continue
        if edge_id in edge_ids:
            problem(f"edges[{edge_id}].id", "duplicate edge id")
        edge_ids.add(edge_id)
        source, target = edge.get("source"), edge.get("target")
        for end, node_id in (("source", source), ("target", target)):
            if not isinstance(node_id, str) or not node_id:
                problem(f"edges[{edge_id}].{end}", "must be the id of a node")
            elif node_id not in types:
                problem(f"edges[{edge_id}].{end}", f"points to a node that does not exist: {_short(node_id)}")
        if not all(isinstance(n, str) and n in types for n in (source, target)):
            continue
        source_spec = catalog.types.get(types[source])
        handle = edge.get("sourceHandle")
        if source_spec and source_spec.outputs and handle not in source_spec.outputs:
            problem(f"edges[{edge_id}].sourceHandle",
                    f"a {types[source]} node has outputs {', '.join(source_spec.outputs)}; got {_short(handle)}")
        target_spec = catalog.types.get(types[target])
        handle = edge.get("targetHandle")
        if target_spec and target_spec.inputs and handle not in target_spec.inputs:
            problem(f"edges[{edge_id}].targetHandle",
                    f"a {types[target]} node has inputs {', '.join(target_spec.inputs)}; got {_short(handle)}")
        successors[source].append(target)

    starts = [n for n, t in types.items() if t == START]
    ends = {n for n, t in types.items() if t == END}
    if len(starts) != 1:
        problem("nodes", f"needs exactly one start node; found {len(starts)}")
    if not ends:
        problem("nodes", "needs at least one end node")
    if len(starts) == 1 and ends:
        seen, frontier = {starts[0]}, [starts[0]]
        while frontier:
            for nxt in successors.get(frontier.pop(), []):
                if nxt not in seen:
                    seen.add(nxt)
                    frontier.append(nxt)
        if not ends & seen:
            problem(f"nodes[{starts[0]}]", "no end node is reachable from the start node")

    for component in _strongly_connected(list(types), successors):
        cyclic = len(component) > 1 or component[0] in successors.get(component[0], [])
        if cyclic and not any(types[n] == LOOP for n in component):
            members = ", ".join(sorted(component)[:5]) + (f" and {len(component) - 5} more" if len(component) > 5 else "")
            problem(f"nodes[{sorted(component)[0]}]", f"cycle through {members} has no loop node; "
                                                      "use a loop node to repeat steps (it bounds iterations)")
    return problems


@dataclass
class GraphDiff:
    nodes_added: list[str]
    nodes_removed: list[str]
    nodes_changed: list[str]
    edges_added: list[str]
    edges_removed: list[str]
    edges_changed: list[str]


def _by_id(items) -> dict:
    return {item["id"]: item for item in items or [] if isinstance(item, dict) and "id" in item}


def diff(old: dict, new: dict) -> GraphDiff:
    """Node and edge ids added, removed and changed from `old` to `new` (sorted, for stable output)."""
    parts = []
    for key in ("nodes", "edges"):
        before, after = _by_id(old.get(key)), _by_id(new.get(key))
        parts += [sorted(after.keys() - before.keys()), sorted(before.keys() - after.keys()),
                  sorted(k for k in after.keys() & before.keys() if after[k] != before[k])]
    return GraphDiff(*parts)
