// Knowledge bases (the vectorstore): collections, their documents (upload with progress, text, live ingestion
// status) and a search playground. Only the public REST API.
import { FormEvent, useEffect, useRef, useState } from "react";
import { ApiError, call, query, upload } from "./api";
import {
  bytes, Collection, CollectionForm, collectionBody, EMPTY_COLLECTION, Embedding, isFinal, KbDocument, onCredentialField, parseMetadata,
  PROVIDERS, SearchResult, shortStatus,
} from "./knowledge";
import { ErrorBanner, Field, navigate, useLoad, when } from "./ui";

const POLL_MS = 1_000;

interface Credential { id: string; name: string; service_type?: string }
interface EmbeddingModel { provider: string; model: string; dimensions: number }

/** Runs an action, keeps its error for display; true when it succeeded. */
function useAction(): [unknown, (action: () => Promise<unknown>) => (e?: FormEvent) => Promise<boolean>] {
  const [error, setError] = useState<unknown>();
  return [error, (action) => async (e) => {
    e?.preventDefault();
    setError(undefined);
    try {
      await action();
      return true;
    } catch (err) {
      if ((err as Error).name !== "AbortError") setError(err);
      return false;
    }
  }];
}

export function KnowledgePage({ selected }: { selected?: string }) {
  return selected ? <CollectionPage key={selected} id={selected} /> : <Collections />;
}

function Collections() {
  const [pages, setPages] = useState<string[]>([""]);
  const token = pages[pages.length - 1];
  const [list, listError, reload] = useLoad(() => call<{ collections?: Collection[]; next_page_token?: string }>(
    "GET", `/collections${query({ page_size: 25, page_token: token })}`), [token]);
  const [actionError, run] = useAction();
  const error = onCredentialField(actionError);
  const [form, setForm] = useState<CollectionForm>(EMPTY_COLLECTION);
  const set = (k: keyof CollectionForm) => (e: { target: { value: string } }) => setForm({ ...form, [k]: e.target.value });
  // The server's local models, offered by name; choosing one fills in its size.
  const [offered] = useLoad(() => call<{ models?: EmbeddingModel[] }>("GET", "/embedding-models"), []);
  const localModels = offered?.models?.filter((m) => m.provider === "local") ?? [];
  const setModel = (e: { target: { value: string } }) => {
    const known = form.provider === "local" && localModels.find((m) => m.model === e.target.value);
    setForm({ ...form, model: e.target.value, ...(known ? { dimensions: String(known.dimensions) } : {}) });
  };
  const create = run(async () => {
    const created = await call<Collection>("POST", "/collections", collectionBody(form));
    navigate(`/knowledge/${created.id}`);
  });
  return (
    <main className="page">
      <h1>Knowledge bases</h1>
      <p className="muted">A collection holds documents, split into chunks and embedded, for search and the retriever node.</p>
      <ErrorBanner error={listError} />
      <table className="list">
        <thead><tr><th>Name</th><th>Embedding</th><th>Chunking</th><th>Documents</th><th>Chunks</th><th>Created</th></tr></thead>
        <tbody>
          {list?.collections?.map((c) => (
            <tr key={c.id}>
              <td><a href={`#/knowledge/${c.id}`}>{c.name}</a><div className="muted small">{c.description}</div></td>
              <td>{c.embedding?.provider} / {c.embedding?.model} · {c.embedding?.dimensions}</td>
              <td>{c.chunking?.splitter} · {c.chunking?.chunk_size}/{c.chunking?.chunk_overlap}</td>
              <td>{c.document_count ?? 0}</td>
              <td>{c.chunk_count ?? 0}</td>
              <td>{when(c.create_time)}</td>
            </tr>
          ))}
          {list && !list.collections?.length && <tr><td colSpan={6} className="empty">No collections yet.</td></tr>}
        </tbody>
      </table>
      <div className="pager">
        <button disabled={pages.length < 2} onClick={() => setPages(pages.slice(0, -1))}>Previous</button>
        <button disabled={!list?.next_page_token} onClick={() => setPages([...pages, list!.next_page_token!])}>Next</button>
        <button onClick={reload}>Refresh</button>
      </div>
      <section className="card" aria-label="New collection">
        <h2>New collection</h2>
        <ErrorBanner error={error} shownFields={[
          "name", "description", "provider", "model", "dimensions", "base_url", "credential_id", "splitter", "chunk_size", "chunk_overlap",
        ]} />
        <form onSubmit={(e) => void create(e)}>
          <div className="grid-form">
            <Field label="Name" name="name" error={error}><input id="f-name" value={form.name} onChange={set("name")} /></Field>
            <Field label="Description" name="description" error={error}><input id="f-description" value={form.description} onChange={set("description")} /></Field>
          </div>
          <fieldset className="grid-form">
            <legend>Embedding</legend>
            <Field label="Embedding provider" name="provider" error={error}>
              <select id="f-provider" value={form.provider} onChange={set("provider")}>
                {Object.entries(PROVIDERS).map(([value, label]) => <option key={value} value={value}>{label}</option>)}
              </select>
            </Field>
            {form.provider !== "builtin" && (
              <Field label="Model" name="model" error={error}
                hint={form.provider === "local" ? "A model directory on the server" : undefined}>
                <input id="f-model" value={form.model} onChange={setModel} list={form.provider === "local" ? "local-models" : undefined}
                  placeholder={form.provider === "local" ? localModels[0]?.model ?? "all-MiniLM-L6-v2" : "text-embedding-3-small"} />
                <datalist id="local-models">
                  {localModels.map((m) => <option key={m.model} value={m.model}>{m.dimensions} dimensions</option>)}
                </datalist>
              </Field>
            )}
            <Field label="Dimensions" name="dimensions" error={error} hint={form.provider === "local" ? "Must be the model's" : undefined}>
              <input id="f-dimensions" type="number" min={1} max={2000} value={form.dimensions} onChange={set("dimensions")}
                placeholder="384" />
            </Field>
            {form.provider === "openai" && <OpenAIFields form={form} set={set} error={error} />}
          </fieldset>
          <fieldset className="grid-form">
            <legend>Chunking</legend>
            <Field label="Splitter" name="splitter" error={error}>
              <select id="f-splitter" value={form.splitter} onChange={set("splitter")}>
                <option value="recursive">recursive (paragraphs, lines, words)</option>
                <option value="markdown">markdown (by headings)</option>
                <option value="character">character (paragraphs)</option>
              </select>
            </Field>
            <Field label="Chunk size" name="chunk_size" error={error}><input id="f-chunk_size" type="number" min={50} max={20000} value={form.chunk_size} onChange={set("chunk_size")} placeholder="1000" /></Field>
            <Field label="Chunk overlap" name="chunk_overlap" error={error}><input id="f-chunk_overlap" type="number" min={0} value={form.chunk_overlap} onChange={set("chunk_overlap")} placeholder="a fifth, ≤ 200" /></Field>
          </fieldset>
          <button className="primary">Create collection</button>
        </form>
      </section>
    </main>
  );
}

/** An OpenAI-compatible endpoint: its base URL and the organization's credential holding its API key (both
 * optional: blank, the operator's endpoint and key). */
function OpenAIFields({ form, set, error }: {
  form: CollectionForm; set: (k: keyof CollectionForm) => (e: { target: { value: string } }) => void; error: unknown;
}) {
  const [list, listError] = useLoad(() => call<{ credentials?: Credential[] }>("GET", "/credentials?page_size=200"), []);
  const credentials = list?.credentials ?? [];
  return (
    <>
      <Field label="Base URL (optional)" name="base_url" error={error} hint="Blank: the server's default endpoint">
        <input id="f-base_url" spellCheck={false} value={form.base_url} onChange={set("base_url")} placeholder="https://api.openai.com/v1" />
      </Field>
      <Field label="API key credential (optional)" name="credential_id" error={error}>
        <select id="f-credential_id" value={form.credential_id} onChange={set("credential_id")}>
          <option value="">None (the server's key, or no key)</option>
          {credentials.map((c) => <option key={c.id} value={c.id}>{c.name}{c.service_type ? ` (${c.service_type})` : ""}</option>)}
        </select>
        {listError ? <div className="hint">Credentials could not be listed: {String((listError as Error).message)}</div>
          : list && !credentials.length && (
            <div className="hint" data-testid="no-credentials">
              No credentials yet: add the API key under <a href="#/settings/credentials">Settings → Credentials</a>.
            </div>
          )}
      </Field>
    </>
  );
}

function CollectionPage({ id }: { id: string }) {
  const [collection, loadError, reload] = useLoad(() => call<Collection>("GET", `/collections/${id}`), [id]);
  const [error, run] = useAction();
  const remove = run(async () => {
    await call("DELETE", `/collections/${id}`);
    navigate("/knowledge");
  });
  return (
    <main className="page">
      <div className="page-head">
        <a href="#/knowledge">Knowledge bases</a> <span className="muted">/</span>
        <h1>{collection?.name ?? "…"}</h1>
        <span className="spacer" />
        {collection && (
          <button className="danger" onClick={() => confirm(`Delete collection ${collection.name} and all its documents?`) && void remove()}>
            Delete collection
          </button>
        )}
      </div>
      <ErrorBanner error={loadError ?? error} />
      {collection && (
        <dl className="facts">
          {collection.description && <><dt>Description</dt><dd>{collection.description}</dd></>}
          <dt>Embedding</dt><dd data-testid="embedding">{collection.embedding?.provider} / {collection.embedding?.model} · {collection.embedding?.dimensions} dimensions</dd>
          {collection.embedding?.provider === "openai" && <EmbeddingEndpoint embedding={collection.embedding} />}
          <dt>Chunking</dt><dd>{collection.chunking?.splitter} · {collection.chunking?.chunk_size} characters, overlap {collection.chunking?.chunk_overlap}</dd>
          <dt>Contents</dt><dd data-testid="collection-counts">{collection.document_count ?? 0} documents · {collection.chunk_count ?? 0} chunks</dd>
        </dl>
      )}
      <div className="split kb">
        <Documents collectionId={id} onSettled={reload} />
        <Search collectionId={id} />
      </div>
    </main>
  );
}

/** Where an OpenAI-compatible collection embeds: its endpoint and the name of the credential holding the key. */
function EmbeddingEndpoint({ embedding }: { embedding: Embedding }) {
  const id = embedding.credential_id;
  const [credential, error] = useLoad(() => (id ? call<Credential>("GET", `/credentials/${id}`) : Promise.resolve(undefined)), [id]);
  const gone = error instanceof ApiError && error.httpStatus === 404;
  return (
    <>
      <dt>Endpoint</dt><dd data-testid="embedding-base-url">{embedding.base_url || "the server's default"}</dd>
      <dt>API key</dt>
      <dd data-testid="embedding-credential">
        {!id ? (embedding.base_url ? "none (the endpoint takes no key)" : "the server's key")
          : credential ? <>credential <a href="#/settings/credentials">{credential.name}</a></>
          : gone ? <span className="field-error">credential {id} no longer exists: embedding fails</span>
          : error ? `credential ${id}` : "…"}
      </dd>
    </>
  );
}

function Documents({ collectionId, onSettled }: { collectionId: string; onSettled: () => void }) {
  const base = `/collections/${collectionId}/documents`;
  const [pages, setPages] = useState<string[]>([""]);
  const token = pages[pages.length - 1];
  const [list, listError, reload] = useLoad(() => call<{ documents?: KbDocument[]; next_page_token?: string }>(
    "GET", `${base}${query({ page_size: 50, page_token: token })}`), [token]);
  const pending = list?.documents?.some((d) => !isFinal(d.status)) ?? false;
  // Follow ingestion: poll while a document on the page is pending or processing; once the page has settled
  // (after an upload, a delete, the last poll), refresh the collection's counts.
  useEffect(() => {
    if (!list) return;
    if (!pending) return onSettled();
    const timer = setTimeout(reload, POLL_MS);
    return () => clearTimeout(timer);
  }, [list, pending, reload, onSettled]);

  const [error, run] = useAction();
  const [file, setFile] = useState<File>();
  const fileInput = useRef<HTMLInputElement>(null);
  const [uploadMeta, setUploadMeta] = useState("");
  const [progress, setProgress] = useState<number>();
  const uploading = useRef<AbortController>(undefined);
  const sendFile = run(async () => {
    if (!file) throw new Error("Choose a file first.");
    parseMetadata(uploadMeta, "upload_metadata");
    const form = new FormData();
    if (uploadMeta.trim()) form.append("metadata", uploadMeta); // fields go before the file
    form.append("file", file, file.name);
    uploading.current = new AbortController();
    setProgress(0);
    try {
      await upload(`${base}:upload`, form, setProgress, uploading.current.signal);
    } finally {
      setProgress(undefined);
      reload();
    }
    setFile(undefined);
    setUploadMeta("");
    if (fileInput.current) fileInput.current.value = "";
  });

  const [text, setText] = useState({ name: "", text: "", metadata: "" });
  const addText = run(async () => {
    await call("POST", base, { name: text.name.trim() || undefined, text: text.text, metadata: parseMetadata(text.metadata) });
    setText({ name: "", text: "", metadata: "" });
    reload();
  });

  return (
    <section aria-label="Documents">
      <h2>Documents</h2>
      <ErrorBanner error={error ?? listError} shownFields={["name", "text", "metadata", "upload_metadata"]} />
      <form className="card" aria-label="Upload a file" onSubmit={(e) => void sendFile(e)}>
        <div className="row">
          <Field label="File" name="file" hint="Text, Markdown, HTML, PDF, CSV or JSON">
            <input id="f-file" ref={fileInput} type="file" accept=".txt,.md,.markdown,.html,.htm,.pdf,.csv,.json,text/*,application/pdf,application/json"
              onChange={(e) => setFile(e.target.files?.[0])} />
          </Field>
          <Field label="File metadata (JSON, optional)" name="upload_metadata" error={error}>
            <input id="f-upload_metadata" value={uploadMeta} onChange={(e) => setUploadMeta(e.target.value)} placeholder='{"team": "hr"}' />
          </Field>
        </div>
        <div className="row">
          {progress === undefined ? <button className="primary" disabled={!file}>Upload</button> : (
            <>
              <progress value={progress} max={1} aria-label="Upload progress" />
              <span aria-live="polite" data-testid="upload-percent">{Math.round(progress * 100)} %</span>
              <button type="button" onClick={() => uploading.current?.abort()}>Cancel upload</button>
            </>
          )}
        </div>
      </form>
      <table className="list" data-testid="documents">
        <thead><tr><th>Name</th><th>Status</th><th>Chunks</th><th>Size</th><th /></tr></thead>
        <tbody>
          {list?.documents?.map((d) => (
            <tr key={d.id} data-testid={`document-${d.name}`}>
              <td>{d.name}<div className="muted small">{d.source_type} · {d.content_type} · {when(d.create_time)}</div></td>
              <td>
                <span className={`badge doc-${shortStatus(d.status)}`} data-testid="status">{shortStatus(d.status)}</span>
                {d.error && <div className="field-error">{d.error}</div>}
              </td>
              <td>{d.chunk_count ?? 0}</td>
              <td className="nowrap">{bytes(d.size_bytes)}</td>
              <td className="actions">
                <button className="danger" aria-label={`Delete document ${d.name}`}
                  onClick={() => confirm(`Delete document ${d.name}?`) && void run(async () => {
                    await call("DELETE", `${base}/${d.id}`);
                    reload();
                  })()}>Delete</button>
              </td>
            </tr>
          ))}
          {list && !list.documents?.length && <tr><td colSpan={5} className="empty">No documents yet.</td></tr>}
        </tbody>
      </table>
      <div className="pager">
        {pending && <span className="muted small" aria-live="polite">ingesting…</span>}
        <button disabled={pages.length < 2} onClick={() => setPages(pages.slice(0, -1))}>Previous</button>
        <button disabled={!list?.next_page_token} onClick={() => setPages([...pages, list!.next_page_token!])}>Next</button>
      </div>
      <form className="card" aria-label="Add text" onSubmit={(e) => void addText(e)}>
        <Field label="Document name" name="name" error={error}>
          <input id="f-name" value={text.name} onChange={(e) => setText({ ...text, name: e.target.value })} />
        </Field>
        <Field label="Text" name="text" error={error}>
          <textarea id="f-text" rows={3} value={text.text} onChange={(e) => setText({ ...text, text: e.target.value })} />
        </Field>
        <Field label="Text metadata (JSON, optional)" name="metadata" error={error}>
          <input id="f-metadata" value={text.metadata} onChange={(e) => setText({ ...text, metadata: e.target.value })} />
        </Field>
        <button className="primary">Add text</button>
      </form>
    </section>
  );
}

const MODES = { HYBRID: "hybrid", VECTOR: "vector", KEYWORD: "keyword" };

function Search({ collectionId }: { collectionId: string }) {
  const [form, setForm] = useState({ query: "", mode: "HYBRID", top_k: "5", min_score: "", filter: "" });
  const [reply, setReply] = useState<{ results?: SearchResult[]; strategy?: string }>();
  const [error, run] = useAction();
  const search = run(async () => {
    setReply(await call("POST", `/collections/${collectionId}:search`, {
      query: form.query, mode: `SEARCH_MODE_${form.mode}`, top_k: form.top_k ? Number(form.top_k) : undefined,
      min_score: form.min_score ? Number(form.min_score) : undefined, filter: parseMetadata(form.filter, "filter"),
    }));
  });
  return (
    <section aria-label="Search">
      <h2>Search</h2>
      <form className="card" onSubmit={(e) => void search(e)}>
        <ErrorBanner error={error} shownFields={["query", "mode", "top_k", "min_score", "filter"]} />
        <Field label="Query" name="query" error={error}>
          <input id="f-query" type="search" value={form.query} onChange={(e) => setForm({ ...form, query: e.target.value })} />
        </Field>
        <div className="row">
          <Field label="Mode" name="mode" error={error}>
            <select id="f-mode" value={form.mode} onChange={(e) => setForm({ ...form, mode: e.target.value })}>
              {Object.entries(MODES).map(([value, label]) => <option key={value} value={value}>{label}</option>)}
            </select>
          </Field>
          <Field label="Top k" name="top_k" error={error}>
            <input id="f-top_k" type="number" min={1} max={100} value={form.top_k} onChange={(e) => setForm({ ...form, top_k: e.target.value })} />
          </Field>
          <Field label="Min score" name="min_score" error={error}>
            <input id="f-min_score" type="number" step="any" value={form.min_score} onChange={(e) => setForm({ ...form, min_score: e.target.value })} placeholder="none" />
          </Field>
        </div>
        <Field label="Metadata filter (JSON, optional)" name="filter" error={error} hint="Chunks whose metadata contains this object">
          <input id="f-filter" value={form.filter} onChange={(e) => setForm({ ...form, filter: e.target.value })} placeholder='{"team": "hr"}' />
        </Field>
        <button className="primary">Search</button>
      </form>
      {reply && (
        <div aria-live="polite">
          <p className="muted small">{reply.results?.length ?? 0} results · {reply.strategy} search</p>
          <ol className="results" data-testid="results">
            {!reply.results?.length && <li className="empty">No chunk matches.</li>}
            {reply.results?.map((r) => (
              <li key={r.chunk.id} className="card">
                <div className="row">
                  <strong>{r.document_name || r.chunk.document_id}</strong>
                  <span className="muted small">chunk {r.chunk.position ?? 0}</span>
                  <span className="spacer" />
                  <span className="badge" title="score">{(r.score ?? 0).toFixed(4)}</span>
                </div>
                <pre>{r.chunk.content}</pre>
                {r.chunk.metadata && Object.keys(r.chunk.metadata).length > 0 && (
                  <code className="muted small metadata">{JSON.stringify(r.chunk.metadata)}</code>
                )}
              </li>
            ))}
          </ol>
        </div>
      )}
    </section>
  );
}
