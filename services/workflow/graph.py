"""Differences between two versions of a flow_data graph (validation lives in services.common.flowgraph)."""

from dataclasses import dataclass


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
