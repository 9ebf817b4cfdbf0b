// Run panel: start a background execution, then follow its events live (reconnecting with Last-Event-ID
// after a drop), cancel it, or answer a human-approval interrupt.
import { FormEvent, useEffect, useRef, useState } from "react";
import { call } from "./api";
import { EMPTY_RUN, reduceRun, RunState } from "./runState";
import { followExecution } from "./runStream";
import { Execution, ExecutionEvent } from "./types";
import { ChatPanel } from "./Chat";
import { ErrorBanner } from "./ui";

export interface RunView {
  status: Record<string, string>;
  tokens: Record<string, string>;
}

interface Props {
  workflowId: string;
  beforeRun: () => Promise<boolean>;
  onView: (view: RunView) => void;
  onClose: () => void;
}

/** One execution followed live: start it, follow it (reconnecting), cancel or resume it. */
export function useRun(onView: (view: RunView) => void) {
  const [error, setError] = useState<unknown>();
  const [executionId, setExecutionId] = useState<string>();
  const [run, setRun] = useState<RunState>(EMPTY_RUN);
  const [connection, setConnection] = useState<"idle" | "live" | "reconnecting">("idle");
  const [reconnects, setReconnects] = useState(0);
  const lastSeq = useRef(0);
  const stream = useRef<AbortController | undefined>(undefined);

  useEffect(() => onView({ status: run.nodes, tokens: run.tokens }), [run, onView]);
  useEffect(() => () => stream.current?.abort(), []);

  async function follow(id: string) {
    stream.current?.abort();
    const controller = new AbortController();
    stream.current = controller;
    setConnection("live");
    try {
      lastSeq.current = await followExecution(id, lastSeq.current, {
        onEvent: (e: ExecutionEvent) => setRun((r) => reduceRun(r, e)),
        onConnection: (next) => setConnection((old) => {
          if (old === "reconnecting" && next === "live") setReconnects((n) => n + 1);
          return next;
        }),
      }, controller.signal);
    } catch (e) {
      setError(e);
    } finally {
      if (stream.current === controller) setConnection("idle");
    }
  }

  /** Starts a background execution and follows it to its end (or its pause); returns its id. */
  async function start(body: Record<string, unknown>): Promise<string | undefined> {
    setError(undefined);
    try {
      const execution = await call<Execution>("POST", "/executions", body);
      lastSeq.current = 0;
      setRun(EMPTY_RUN);
      setReconnects(0);
      setExecutionId(execution.id);
      await follow(execution.id);
      return execution.id;
    } catch (err) {
      setError(err);
    }
  }

  async function act(path: string, body: unknown, thenFollow: boolean) {
    setError(undefined);
    try {
      await call("POST", `/executions/${executionId}${path}`, body);
      if (thenFollow) await follow(executionId!);
    } catch (err) {
      setError(err);
    }
  }

  const active = !!executionId && (run.phase === "starting" || run.phase === "running");
  return { run, executionId, connection, reconnects, error, setError, start, act, active };
}

export type RunHandle = ReturnType<typeof useRun>;

export function RunPanel({ workflowId, beforeRun, onView, onClose }: Props) {
  const [mode, setMode] = useState<"run" | "chat">("run");
  const [input, setInput] = useState("Hello!");
  const [asJson, setAsJson] = useState(false);
  const [comment, setComment] = useState("");
  const runner = useRun(onView);
  const { run, executionId, connection, reconnects, error, setError, act, active } = runner;

  async function start(e: FormEvent) {
    e.preventDefault();
    setError(undefined);
    let value: unknown = input;
    if (asJson) {
      try {
        value = JSON.parse(input);
      } catch (err) {
        setError(new Error(`The input is not valid JSON: ${(err as Error).message}`));
        return;
      }
    }
    if (!(await beforeRun())) {
      setError(new Error("Save the workflow first (see the message above the canvas)."));
      return;
    }
    void runner.start({ workflow_id: workflowId, input: value });
  }

  return (
    <section className="run-panel" aria-label="Run">
      <div className="panel-head">
        <div className="tabs" role="tablist" aria-label="Run mode">
          <button role="tab" aria-selected={mode === "run"} onClick={() => setMode("run")}>Run</button>
          <button role="tab" aria-selected={mode === "chat"} onClick={() => setMode("chat")}>Chat</button>
        </div>
        <button onClick={onClose} aria-label="Close run panel">×</button>
      </div>
      {mode === "chat" ? <ChatPanel workflowId={workflowId} beforeRun={beforeRun} runner={runner} /> : (
      <form onSubmit={start}>
        <label htmlFor="run-input">Input</label>
        <textarea id="run-input" rows={3} value={input} onChange={(e) => setInput(e.target.value)} />
        <label className="check"><input type="checkbox" checked={asJson} onChange={(e) => setAsJson(e.target.checked)} /> Input is JSON</label>
        <div className="row">
          <button type="submit" className="primary" disabled={!!executionId && active && connection !== "idle"}>Run</button>
          {executionId && active && <button type="button" className="danger" onClick={() => void act(":cancel", {}, false)}>Cancel</button>}
        </div>
      </form>)}
      <ErrorBanner error={error} />
      {executionId && (
        <div className="run-state">
          <div>
            Status: <strong data-testid="run-phase" className={`phase-${run.phase}`}>{run.phase}</strong>
            {connection === "reconnecting" && <span className="badge warn" role="status"> reconnecting…</span>}
            {reconnects > 0 && <span className="badge" data-testid="reconnects"> reconnected ×{reconnects}</span>}
          </div>
          <div className="muted small">Execution <a href={`#/executions/${executionId}`}>{executionId}</a></div>
          {run.interrupt && (
            <div className="interrupt card" role="alert">
              <strong>Approval needed at {run.interrupt.node_id}</strong>
              <p>{run.interrupt.prompt}</p>
              <label htmlFor="approval-comment">Comment</label>
              <input id="approval-comment" value={comment} onChange={(e) => setComment(e.target.value)} />
              <div className="row">
                <button className="primary" onClick={() => void act(":resume", { value: { approved: true, comment } }, true)}>Approve</button>
                <button className="danger" onClick={() => void act(":resume", { value: { approved: false, comment } }, true)}>Reject</button>
              </div>
            </div>
          )}
          {run.error && (
            <div className="error" role="alert">{run.error.code}: {run.error.message}{run.error.node_id && ` (node ${run.error.node_id})`}</div>
          )}
          {run.output !== undefined && (
            <div><h3>Output</h3><pre data-testid="run-output">{typeof run.output === "string" ? run.output : JSON.stringify(run.output, null, 2)}</pre></div>
          )}
          <h3>Nodes</h3>
          <ol className="node-outputs">
            {Object.entries(run.nodes).map(([id, status]) => (
              <li key={id}>
                <span className={`dot status-${status}`} aria-hidden /> <strong>{id}</strong> {status}
                {run.tokens[id] && <pre className="tokens">{run.tokens[id]}</pre>}
                {run.outputs[id] !== undefined && !run.tokens[id] && <pre>{JSON.stringify(run.outputs[id])}</pre>}
              </li>
            ))}
          </ol>
        </div>
      )}
    </section>
  );
}
