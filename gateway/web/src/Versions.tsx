// Versions of a workflow: what changed in each (the service's diff) and restore as a new version.
import { useState } from "react";
import { call } from "./api";
import { Workflow } from "./types";
import { ErrorBanner, useLoad, when } from "./ui";

interface Version { version: number; message: string; create_time: string }
interface Diff {
  nodes_added?: string[]; nodes_removed?: string[]; nodes_changed?: string[];
  edges_added?: string[]; edges_removed?: string[]; edges_changed?: string[];
}

export function VersionsPanel({ workflowId, version, etag, onRestored, onClose }: {
  workflowId: string; version: number; etag: string; onRestored: (w: Workflow) => void; onClose: () => void;
}) {
  const [list, listError] = useLoad(() => call<{ versions: Version[] }>("GET", `/workflows/${workflowId}/versions?page_size=50`), [workflowId, version]);
  const [open, setOpen] = useState<number>();
  const [diff, setDiff] = useState<Diff>();
  const [error, setError] = useState<unknown>();

  async function show(v: number) {
    setOpen(v);
    setDiff(undefined);
    if (v > 1) call<Diff>("GET", `/workflows/${workflowId}/versions/${v}:diff`).then(setDiff, setError);
  }

  async function restore(v: number) {
    try {
      onRestored(await call<Workflow>("POST", `/workflows/${workflowId}/versions/${v}:restore`, { etag }));
    } catch (e) {
      setError(e);
    }
  }

  const line = (label: string, ids?: string[]) => (ids?.length ? <li>{label}: {ids.join(", ")}</li> : null);
  return (
    <section aria-label="Versions">
      <div className="panel-head"><h2>Versions</h2><button onClick={onClose} aria-label="Close versions">×</button></div>
      <ErrorBanner error={error ?? listError} />
      <ol className="versions">
        {list?.versions.map((v) => (
          <li key={v.version}>
            <button className="link" aria-expanded={open === v.version} onClick={() => void show(v.version)}>v{v.version}</button>
            {v.version === version && <span className="badge">current</span>} <span className="muted small">{when(v.create_time)} {v.message}</span>
            {open === v.version && (
              <div className="card">
                {v.version === 1 ? <p className="muted">First version.</p> : diff ? (
                  <ul>
                    {line("Nodes added", diff.nodes_added)}{line("Nodes removed", diff.nodes_removed)}{line("Nodes changed", diff.nodes_changed)}
                    {line("Edges added", diff.edges_added)}{line("Edges removed", diff.edges_removed)}{line("Edges changed", diff.edges_changed)}
                  </ul>
                ) : "…"}
                {v.version !== version && <button onClick={() => void restore(v.version)}>Restore v{v.version}</button>}
              </div>
            )}
          </li>
        ))}
      </ol>
    </section>
  );
}
