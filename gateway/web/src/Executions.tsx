// Executions history: filters, paging, and a run's event timeline (live while it is still going).
import { useEffect, useState } from "react";
import { call, query } from "./api";
import { followExecution } from "./runStream";
import { Execution, ExecutionEvent, Workflow } from "./types";
import { ErrorBanner, navigate, useLoad, when } from "./ui";

const STATUSES = ["QUEUED", "RUNNING", "INTERRUPTED", "SUCCEEDED", "FAILED", "CANCELLED"];
const short = (status: string) => status.replace("EXECUTION_STATUS_", "").toLowerCase();

export function ExecutionsPage({ selected }: { selected?: string }) {
  const [workflowId, setWorkflowId] = useState("");
  const [status, setStatus] = useState("");
  const [after, setAfter] = useState("");
  const [before, setBefore] = useState("");
  const [pages, setPages] = useState<string[]>([""]);
  const token = pages[pages.length - 1];
  const [workflows] = useLoad(() => call<{ workflows?: Workflow[] }>("GET", "/workflows?page_size=200"), []);
  const [list, error] = useLoad(() => call<{ executions?: Execution[]; next_page_token?: string }>("GET", `/executions${query({
    page_size: 25, page_token: token, workflow_id: workflowId, status: status && `EXECUTION_STATUS_${status}`,
    created_after: after && new Date(after).toISOString(), created_before: before && new Date(before).toISOString(),
  })}`), [token, workflowId, status, after, before]);
  const names = Object.fromEntries((workflows?.workflows ?? []).map((w) => [w.id, w.name]));

  return (
    <main className="page split">
      <section aria-label="Executions">
        <h1>Executions</h1>
        <div className="toolbar">
          <select aria-label="Filter by workflow" value={workflowId} onChange={(e) => { setWorkflowId(e.target.value); setPages([""]); }}>
            <option value="">All workflows</option>
            {workflows?.workflows?.map((w) => <option key={w.id} value={w.id}>{w.name}</option>)}
          </select>
          <select aria-label="Filter by status" value={status} onChange={(e) => { setStatus(e.target.value); setPages([""]); }}>
            <option value="">Any status</option>
            {STATUSES.map((s) => <option key={s} value={s}>{s.toLowerCase()}</option>)}
          </select>
          <label className="check">From <input type="datetime-local" aria-label="Started after" value={after}
            onChange={(e) => { setAfter(e.target.value); setPages([""]); }} /></label>
          <label className="check">To <input type="datetime-local" aria-label="Started before" value={before}
            onChange={(e) => { setBefore(e.target.value); setPages([""]); }} /></label>
        </div>
        <ErrorBanner error={error} />
        <table className="list">
          <thead><tr><th>Started</th><th>Workflow</th><th>Status</th></tr></thead>
          <tbody>
            {list?.executions?.map((x) => (
              <tr key={x.id} className={x.id === selected ? "selected" : ""} onClick={() => navigate(`/executions/${x.id}`)}>
                <td><a href={`#/executions/${x.id}`}>{when(x.create_time)}</a></td>
                <td>{names[x.workflow_id] ?? x.workflow_id} v{x.workflow_version}</td>
                <td><span className={`badge phase-${short(x.status)}`}>{short(x.status)}</span></td>
              </tr>
            ))}
            {list && !list.executions?.length && <tr><td colSpan={3} className="empty">No runs yet.</td></tr>}
          </tbody>
        </table>
        <div className="pager">
          <button disabled={pages.length < 2} onClick={() => setPages(pages.slice(0, -1))}>Previous</button>
          <button disabled={!list?.next_page_token} onClick={() => setPages([...pages, list!.next_page_token!])}>Next</button>
        </div>
      </section>
      {selected && <Timeline key={selected} id={selected} />}
    </main>
  );
}

function Timeline({ id }: { id: string }) {
  const [execution, error] = useLoad(() => call<Execution>("GET", `/executions/${id}`), [id]);
  const [events, setEvents] = useState<ExecutionEvent[]>([]);
  const [streamError, setStreamError] = useState<unknown>();
  useEffect(() => {
    const controller = new AbortController();
    followExecution(id, 0, { onEvent: (e) => setEvents((es) => [...es, e]), onConnection: () => {} }, controller.signal)
      .catch(setStreamError);
    return () => controller.abort();
  }, [id]);
  const start = events[0] ? Date.parse(events[0].timestamp) : 0;
  return (
    <section className="timeline" aria-label="Event timeline">
      <h2>Run {id.slice(0, 8)}</h2>
      <ErrorBanner error={error ?? streamError} />
      {execution && (
        <dl className="facts">
          <dt>Status</dt><dd><span className={`badge phase-${short(execution.status)}`}>{short(execution.status)}</span></dd>
          <dt>Workflow</dt><dd><a href={`#/workflows/${execution.workflow_id}`}>{execution.workflow_id}</a> v{execution.workflow_version}</dd>
          <dt>Input</dt><dd><code>{JSON.stringify(execution.input)}</code></dd>
          {execution.output !== undefined && <><dt>Output</dt><dd><code>{JSON.stringify(execution.output)}</code></dd></>}
          {execution.error?.code && <><dt>Error</dt><dd className="error">{execution.error.code}: {execution.error.message}</dd></>}
        </dl>
      )}
      <ol className="events" data-testid="timeline">
        {events.map((e) => (
          <li key={e.seq} className={`event event-${e.type}`}>
            <span className="seq">#{e.seq}</span>
            <span className="t">+{Date.parse(e.timestamp) - start} ms</span>
            <strong>{e.type}</strong> {e.node_id && <code>{e.node_id}</code>}
            {e.payload && Object.keys(e.payload).length > 0 && <span className="payload">{JSON.stringify(e.payload)}</span>}
          </li>
        ))}
      </ol>
    </section>
  );
}
