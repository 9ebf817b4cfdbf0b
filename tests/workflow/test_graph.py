"""Graph validation rules (services.common.flowgraph) and version diffs, without I/O."""

from services.common.flowgraph import Catalog, Limits, validate
from services.workflow.builtin_templates import BUILTIN_TEMPLATES
from services.workflow.graph import diff
from services.workflow.node_catalog import BUILTIN, builtin_catalog

LIMITS = Limits(max_nodes=50, max_edges=100, max_bytes=64 * 1024)
CATALOG = builtin_catalog("test")


def flow(nodes, edges):
    return {"nodes": [{"id": i, "type": t, "data": d} for i, t, d in nodes],
            "edges": [{"id": f"e{n}", "source": s, "target": t, **extra} for n, (s, t, extra) in enumerate(edges)]}


def fields(problems):
    return {p.field for p in problems}


def test_minimal_graph_is_valid():
    assert validate(flow([("s", "start", {}), ("e", "end", {})], [("s", "e", {})]), CATALOG, LIMITS) == []


def test_every_builtin_template_validates():
    for template in BUILTIN_TEMPLATES:
        assert validate(template.flow_data, CATALOG, LIMITS) == [], template.slug


def test_all_problems_are_reported_at_once_naming_nodes_and_edges():
    graph = flow([("s", "start", {}), ("s", "end", {}), ("llm", "chat_model", {}), ("", "end", {})],
                 [("s", "ghost", {}), ("llm", "s", {})])
    problems = fields(validate(graph, CATALOG, LIMITS))
    assert {"flow_data.nodes[s].id", "flow_data.nodes[llm].data.model", "flow_data.nodes[3].id",
            "flow_data.edges[e0].target", "flow_data.nodes"} <= problems


def malformed(problems):
    return {p.field for p in problems if not p.draft_ok}


def test_incomplete_graphs_are_drafts_and_malformed_ones_are_not():
    draft = flow([("s", "start", {}), ("s2", "start", {}), ("llm", "chat_model", {}), ("x", "quantum_oracle", {}),
                  ("c", "condition", {"expression": "x"}), ("a", "merge", {}), ("b", "merge", {}), ("alone", "merge", {})],
                 [("s", "llm", {}), ("llm", "c", {}), ("c", "a", {"sourceHandle": "maybe"}), ("a", "b", {}), ("b", "a", {}),
                  ("s2", "x", {})])
    problems = validate(draft, Catalog(dict(BUILTIN), authoritative=True), LIMITS)
    assert all(p.draft_ok for p in problems)
    descriptions = {p.field: p.description for p in problems}
    assert descriptions["flow_data.nodes[llm].data.model"] == "is required for a chat_model node"
    assert descriptions["flow_data.nodes[alone]"] == "is not connected to any other node"
    assert {"flow_data.nodes", "flow_data.nodes[x].type", "flow_data.edges[e2].sourceHandle",
            "flow_data.nodes[a]"} <= descriptions.keys()

    broken = {"nodes": [{"id": "s", "type": "start"}, {"id": "s", "type": "end"}, "node", {"id": "t"},
                        {"id": "d", "type": "merge", "data": []}, {"id": "x" * 101, "type": "merge"}],
              "edges": [{"id": "e", "source": "s", "target": "ghost"}, {"id": "e", "source": "s", "target": "d"},
                        {"id": "f", "source": 1, "target": "d"}, 7]}
    assert malformed(validate(broken, CATALOG, LIMITS)) == {
        "flow_data.nodes[s].id", "flow_data.nodes[2].id", "flow_data.nodes[t].type", "flow_data.nodes[d].data",
        "flow_data.nodes[5].id", "flow_data.edges[e].target", "flow_data.edges[e].id", "flow_data.edges[f].source",
        "flow_data.edges[3]"}
    for shape in ({"nodes": {}, "edges": []}, {"nodes": [], "edges": "none"}):
        assert [(p.field, p.draft_ok) for p in validate(shape, CATALOG, LIMITS)] == [("flow_data", False)]


def test_an_empty_draft_lacks_only_its_start_and_end():
    assert {(p.description, p.draft_ok) for p in validate({}, CATALOG, LIMITS)} == {
        ("needs exactly one start node; found 0", True), ("needs at least one end node", True)}


def test_validation_does_not_change_the_graph():
    graph = {"nodes": [{"id": "s", "type": "start"}]}
    validate(graph, CATALOG, LIMITS)
    assert graph == {"nodes": [{"id": "s", "type": "start"}]}


def test_exactly_one_start_and_a_reachable_end():
    two_starts = flow([("a", "start", {}), ("b", "start", {}), ("e", "end", {})], [("a", "e", {}), ("b", "e", {})])
    assert any("exactly one start" in p.description for p in validate(two_starts, CATALOG, LIMITS))
    unreachable = flow([("s", "start", {}), ("m", "merge", {}), ("e", "end", {})], [("s", "m", {})])
    assert any("reachable" in p.description for p in validate(unreachable, CATALOG, LIMITS))


def test_cycles_need_a_loop_node():
    plain = flow([("s", "start", {}), ("a", "merge", {}), ("b", "template", {"template": "x"}), ("e", "end", {})],
                 [("s", "a", {}), ("a", "b", {}), ("b", "a", {}), ("b", "e", {})])
    assert any("no loop node" in p.description for p in validate(plain, CATALOG, LIMITS))
    looped = flow([("s", "start", {}), ("loop", "loop", {"max_iterations": 3}), ("b", "template", {"template": "x"}),
                   ("e", "end", {})],
                  [("s", "loop", {}), ("loop", "b", {"sourceHandle": "body"}), ("b", "loop", {}),
                   ("loop", "e", {"sourceHandle": "done"})])
    assert validate(looped, CATALOG, LIMITS) == []


def test_handles_must_exist_on_the_node_type():
    graph = flow([("s", "start", {}), ("c", "condition", {"expression": "x"}), ("e", "end", {})],
                 [("s", "c", {}), ("c", "e", {"sourceHandle": "maybe"})])
    assert fields(validate(graph, CATALOG, LIMITS)) == {"flow_data.edges[e1].sourceHandle"}


def test_unknown_types_fail_only_against_an_authoritative_catalog():
    graph = flow([("s", "start", {}), ("x", "quantum_oracle", {}), ("e", "end", {})], [("s", "x", {}), ("x", "e", {})])
    assert validate(graph, CATALOG, LIMITS) == []
    strict = Catalog(dict(BUILTIN), authoritative=True)
    assert fields(validate(graph, strict, LIMITS)) == {"flow_data.nodes[x].type"}


def test_limits_are_enforced_with_a_clear_message():
    many = flow([("s", "start", {}), *[(f"n{i}", "merge", {}) for i in range(60)], ("e", "end", {})], [])
    assert [(p.description, p.draft_ok) for p in validate(many, CATALOG, LIMITS)] == [("has 62 nodes; the limit is 50", False)]
    huge = flow([("s", "start", {"blob": "x" * 70_000}), ("e", "end", {})], [("s", "e", {})])
    assert [(p.description, p.draft_ok) for p in validate(huge, CATALOG, LIMITS)] == [("is larger than 65536 bytes", False)]


def test_deep_chain_does_not_recurse():
    n = 45
    nodes = [("s", "start", {}), *[(f"n{i}", "merge", {}) for i in range(n)], ("e", "end", {})]
    chain = ["s", *[f"n{i}" for i in range(n)], "e"]
    edges = [(a, b, {}) for a, b in zip(chain, chain[1:], strict=False)]
    assert validate(flow(nodes, edges), CATALOG, Limits(1000, 1000, 10**6)) == []


def test_diff_names_added_removed_and_changed_nodes_and_edges():
    old = flow([("s", "start", {}), ("a", "merge", {}), ("e", "end", {})], [("s", "a", {}), ("a", "e", {})])
    new = flow([("s", "start", {}), ("a", "merge", {"note": "x"}), ("b", "merge", {}), ("e", "end", {})],
               [("s", "a", {}), ("a", "b", {}), ("b", "e", {})])
    changes = diff(old, new)
    assert (changes.nodes_added, changes.nodes_removed, changes.nodes_changed) == (["b"], [], ["a"])
    assert (changes.edges_added, changes.edges_removed, changes.edges_changed) == (["e2"], [], ["e1"])
    assert diff(new, new).nodes_changed == [] and diff(new, old).nodes_removed == ["b"]


def test_malformed_edges_are_violations_not_crashes():
    graph = {"nodes": [{"id": "s", "type": "start"}, {"id": "e", "type": "end"}],
             "edges": [{"id": "a", "source": ["s"], "target": "e"}, {"id": {"x": 1}, "source": "s", "target": "e"},
                       {"id": "b", "source": "s", "target": None}, {"id": "c", "source": "s", "target": "e"}]}
    problems = fields(validate(graph, CATALOG, LIMITS))
    assert {"flow_data.edges[a].source", "flow_data.edges[1].id", "flow_data.edges[b].target"} <= problems
    assert not any(field.startswith("flow_data.edges[c]") for field in problems)


def test_non_finite_numbers_and_deep_nesting_are_refused():
    nan = flow([("s", "start", {"t": float("nan")}), ("e", "end", {})], [("s", "e", {})])
    assert [(p.description, p.draft_ok) for p in validate(nan, CATALOG, LIMITS)] == \
        [("numbers must be finite (no NaN or Infinity)", False)]
    deep: dict = {}
    cursor = deep
    for _ in range(40):
        cursor["x"] = {}
        cursor = cursor["x"]
    nested = flow([("s", "start", deep), ("e", "end", {})], [("s", "e", {})])
    assert [(p.description, p.draft_ok) for p in validate(nested, CATALOG, LIMITS)] == \
        [("is nested deeper than 32 levels", False)]
