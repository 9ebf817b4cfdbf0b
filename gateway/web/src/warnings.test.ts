import { describe, expect, it } from "vitest";
import { groupProblems } from "./warnings";

describe("groupProblems", () => {
  it("puts each message on the node or edge it names", () => {
    const problems = groupProblems([
      "flow_data.nodes[t1].data.template: is required for a template node",
      "flow_data.nodes: needs at least one end node",
      "nodes[llm-1].data.model: unknown model",
      "edges[e3].target: no node with this id",
    ]);
    expect(problems.nodes).toEqual({ t1: ["template: is required for a template node"], "llm-1": ["model: unknown model"] });
    expect(problems.edges).toEqual({ e3: ["no node with this id"] });
    expect(problems.graph).toEqual(["needs at least one end node"]);
  });
});
