import { FormEvent, useState } from "react";
import { call, query } from "./api";
import { Template, Workflow } from "./types";
import { ErrorBanner, Field, navigate, useLoad, when } from "./ui";

const PAGE_SIZE = 20;
const BLANK = {
  nodes: [
    { id: "start", type: "start", position: { x: 0, y: 0 }, data: {} },
    { id: "end", type: "end", position: { x: 400, y: 0 }, data: {} },
  ],
  edges: [{ id: "e-start-end", source: "start", target: "end" }],
};

export function WorkflowsPage() {
  const [search, setSearch] = useState("");
  const [tag, setTag] = useState("");
  const [deleted, setDeleted] = useState(false);
  // Tokens of the pages before the current one: Previous pops, Next pushes.
  const [pages, setPages] = useState<string[]>([""]);
  const [error, setError] = useState<unknown>();
  const [creating, setCreating] = useState(false);
  const token = pages[pages.length - 1];
  const [list, listError, reload] = useLoad(
    () => call<{ workflows?: Workflow[]; next_page_token?: string }>(
      "GET", `/workflows${query({ page_size: PAGE_SIZE, page_token: token, query: search, tag, show_deleted: deleted })}`),
    [token, search, tag, deleted]);

  function filter(set: (v: string) => void, value: string) {
    set(value);
    setPages([""]);
  }

  async function act(action: () => Promise<unknown>) {
    setError(undefined);
    try {
      await action();
      reload();
    } catch (e) {
      setError(e);
    }
  }

  async function exportFile(w: Workflow) {
    const doc = await call("GET", `/workflows/${w.id}:export`);
    const url = URL.createObjectURL(new Blob([JSON.stringify(doc, null, 2)], { type: "application/json" }));
    const a = Object.assign(document.createElement("a"), { href: url, download: `${w.name}.workflow.json` });
    a.click();
    URL.revokeObjectURL(url);
  }

  async function importFile(file: File) {
    const document = JSON.parse(await file.text());
    const created = await call<Workflow>("POST", "/workflows:import", { document });
    navigate(`/workflows/${created.id}`);
  }

  return (
    <main className="page">
      <div className="page-head">
        <h1>Workflows</h1>
        <span className="spacer" />
        <label className="button">
          Import…
          <input type="file" accept="application/json,.json" className="sr-only"
            onChange={(e) => e.target.files?.[0] && void act(() => importFile(e.target.files![0]))} />
        </label>
        <button className="primary" onClick={() => setCreating(true)}>New workflow</button>
      </div>
      {creating && <NewWorkflow onClose={() => setCreating(false)} />}
      <div className="toolbar" role="search">
        <input type="search" placeholder="Search by name" aria-label="Search workflows" value={search}
          onChange={(e) => filter(setSearch, e.target.value)} />
        <input placeholder="Tag" aria-label="Filter by tag" value={tag} onChange={(e) => filter(setTag, e.target.value)} />
        <label className="check">
          <input type="checkbox" checked={deleted} onChange={(e) => { setDeleted(e.target.checked); setPages([""]); }} /> Deleted
        </label>
      </div>
      <ErrorBanner error={error ?? listError} />
      <table className="list">
        <thead><tr><th>Name</th><th>Tags</th><th>Version</th><th>Updated</th><th><span className="sr-only">Actions</span></th></tr></thead>
        <tbody>
          {list?.workflows?.map((w) => (
            <tr key={w.id}>
              <td>{deleted ? w.name : <a href={`#/workflows/${w.id}`}>{w.name}</a>}<div className="muted small">{w.description}</div></td>
              <td>{w.tags.map((t) => <button key={t} className="tag" onClick={() => filter(setTag, t)}>{t}</button>)}</td>
              <td>v{w.version}</td>
              <td>{when(w.update_time)}</td>
              <td className="actions">
                {deleted ? (
                  <button onClick={() => void act(() => call("POST", `/workflows/${w.id}:undelete`, {}))}>Restore</button>
                ) : (
                  <>
                    <button onClick={() => void act(() => exportFile(w))}>Export</button>
                    <button className="danger" aria-label={`Delete ${w.name}`}
                      onClick={() => confirm(`Delete "${w.name}"? You can restore it from Deleted.`) && void act(() => call("DELETE", `/workflows/${w.id}`))}>
                      Delete
                    </button>
                  </>
                )}
              </td>
            </tr>
          ))}
          {list && !list.workflows?.length && (
            <tr><td colSpan={5} className="empty">{search || tag ? "No workflow matches." : "No workflows yet: create one from a template."}</td></tr>
          )}
        </tbody>
      </table>
      <div className="pager">
        <button disabled={pages.length < 2} onClick={() => setPages(pages.slice(0, -1))}>Previous</button>
        <span>Page {pages.length}</span>
        <button disabled={!list?.next_page_token} onClick={() => setPages([...pages, list!.next_page_token!])}>Next</button>
      </div>
    </main>
  );
}

function NewWorkflow({ onClose }: { onClose: () => void }) {
  const [name, setName] = useState("");
  const [error, setError] = useState<unknown>();
  const [templates, templatesError] = useLoad(() => call<{ templates: Template[] }>("GET", "/templates?page_size=100"), []);

  async function create(e?: FormEvent, template?: Template) {
    e?.preventDefault();
    setError(undefined);
    try {
      const created = template
        ? await call<Workflow>("POST", `/templates/${encodeURIComponent(template.id)}:instantiate`, { name: name || template.name })
        : await call<Workflow>("POST", "/workflows", { name, flow_data: BLANK });
      navigate(`/workflows/${created.id}`);
    } catch (err) {
      setError(err);
    }
  }

  return (
    <section className="card new-workflow" aria-label="New workflow">
      <form onSubmit={create} className="row">
        <Field label="Name" name="name" error={error}>
          <input id="f-name" value={name} onChange={(e) => setName(e.target.value)} placeholder="My workflow" autoFocus />
        </Field>
        <button type="submit" className="primary">Create blank</button>
        <button type="button" onClick={onClose}>Close</button>
      </form>
      <ErrorBanner error={error ?? templatesError} shownFields={["name"]} />
      <h2>Or start from a template</h2>
      <div className="gallery">
        {templates?.templates.map((t) => (
          <button key={t.id} className="template" onClick={() => void create(undefined, t)} aria-label={`Use template ${t.name}`}>
            <strong>{t.name}</strong>
            <span className="badge">{t.builtin ? t.category : "organization"}</span>
            <span className="muted small">{t.description}</span>
          </button>
        ))}
      </div>
    </section>
  );
}
