import { describe, expect, it } from "vitest";
import { EMPTY_RUN, reduceRun } from "./runState";
import { ExecutionEvent } from "./types";

const ev = (seq: number, type: string, node_id = "", payload: Record<string, unknown> = {}): ExecutionEvent =>
  ({ execution_id: "x", seq, type, node_id, payload, timestamp: "" });

describe("reduceRun", () => {
  it("follows node statuses, tokens and the output", () => {
    const events = [
      ev(1, "run_started"), ev(2, "node_started", "chat"), ev(3, "token", "chat", { text: "Echo: " }),
      ev(4, "token", "chat", { text: "hi" }), ev(5, "node_completed", "chat", { output: "Echo: hi" }),
      ev(6, "node_started", "end"), ev(7, "run_completed", "", { output: "Echo: hi" }),
    ];
    const state = events.reduce(reduceRun, EMPTY_RUN);
    expect(state.phase).toBe("succeeded");
    expect(state.nodes).toEqual({ chat: "succeeded", end: "running" });
    expect(state.tokens.chat).toBe("Echo: hi");
    expect(state.output).toBe("Echo: hi");
  });

  it("pauses on an interrupt and resumes on the next node", () => {
    let state = [ev(1, "run_started"), ev(2, "node_started", "ok"), ev(3, "interrupt", "ok", { prompt: "Ship?" })].reduce(reduceRun, EMPTY_RUN);
    expect(state.phase).toBe("interrupted");
    expect(state.interrupt).toEqual({ node_id: "ok", prompt: "Ship?" });
    state = reduceRun(state, ev(4, "node_started", "next"));
    expect(state.phase).toBe("running");
    expect(state.interrupt).toBeUndefined();
  });

  it("keeps the failing node with the error", () => {
    const state = [ev(1, "node_started", "t"), ev(2, "node_failed", "t", { error: "boom", code: "NODE_FAILED", attempts: 1 }),
      ev(3, "run_failed", "", { error: { code: "NODE_FAILED", message: "boom", node_id: "t" } })].reduce(reduceRun, EMPTY_RUN);
    expect(state.nodes.t).toBe("failed");
    expect(state.phase).toBe("failed");
    expect(state.error?.message).toBe("boom");
  });
});
