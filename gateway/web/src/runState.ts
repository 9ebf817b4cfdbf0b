// What a run looks like after a list of its events: per-node status, streamed text and outputs, and the
// run's own state. Pure, so the canvas, the run panel and the history timeline all read the same thing.
import { ExecutionEvent } from "./types";

export type NodeStatus = "running" | "succeeded" | "failed" | "interrupted" | "retrying";

export interface RunState {
  phase: "starting" | "running" | "interrupted" | "succeeded" | "failed" | "cancelled";
  nodes: Record<string, NodeStatus>;
  tokens: Record<string, string>;
  outputs: Record<string, unknown>;
  output?: unknown;
  error?: { code?: string; message?: string; node_id?: string };
  interrupt?: { node_id: string; prompt?: string };
}

export const EMPTY_RUN: RunState = { phase: "starting", nodes: {}, tokens: {}, outputs: {} };

export function reduceRun(state: RunState, e: ExecutionEvent): RunState {
  const node = e.node_id;
  const p = e.payload ?? {};
  switch (e.type) {
    case "run_started":
      return { ...state, phase: "running", interrupt: undefined };
    case "node_started":
      return { ...state, phase: "running", interrupt: undefined, nodes: { ...state.nodes, [node]: "running" } };
    case "node_retry":
      return { ...state, nodes: { ...state.nodes, [node]: "retrying" } };
    case "token":
      return { ...state, tokens: { ...state.tokens, [node]: (state.tokens[node] ?? "") + String(p.text ?? "") } };
    case "node_completed":
      return { ...state, nodes: { ...state.nodes, [node]: "succeeded" }, outputs: { ...state.outputs, [node]: p.output } };
    case "node_failed":
      return { ...state, nodes: { ...state.nodes, [node]: "failed" }, error: { code: String(p.code ?? ""), message: String(p.error ?? ""), node_id: node } };
    case "interrupt":
      return { ...state, phase: "interrupted", nodes: { ...state.nodes, [node]: "interrupted" }, interrupt: { node_id: node, prompt: p.prompt as string } };
    case "run_completed":
      return { ...state, phase: "succeeded", output: p.output };
    case "run_failed":
      return { ...state, phase: "failed", error: (p.error as RunState["error"]) ?? state.error };
    case "run_cancelled":
      return { ...state, phase: "cancelled" };
    default:
      return state;
  }
}
