// The workflow service names the part of the graph a problem concerns inside the message:
// "flow_data.nodes[t1].data.template: is required ..." or "edges[e3].target: ...". Split them out so the
// canvas can put each message on its node or edge.
export interface GraphProblems {
  nodes: Record<string, string[]>;
  edges: Record<string, string[]>;
  graph: string[];
}

const PATTERN = /(?:^|\.)(nodes|edges)\[([^\]]+)\](?:\.data\.([\w.]+))?[^:]*:\s*(.*)$/s;

export function groupProblems(messages: string[]): GraphProblems {
  const out: GraphProblems = { nodes: {}, edges: {}, graph: [] };
  for (const message of messages) {
    const m = PATTERN.exec(message);
    if (!m) {
      out.graph.push(message.replace(/^flow_data\.?/, "").replace(/^nodes: /, ""));
      continue;
    }
    const [, kind, id, field, text] = m;
    const target = kind === "nodes" ? out.nodes : out.edges;
    (target[id] ??= []).push(field ? `${field}: ${text}` : text);
  }
  return out;
}
