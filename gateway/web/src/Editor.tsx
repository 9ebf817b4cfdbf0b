// The canvas editor: palette, ReactFlow canvas, settings panel, autosave with the etag, undo/redo,
// versions, and the run panel. flow_data is ReactFlow's own shape, so nodes and edges go back and forth
// with only the UI fields (selection, measured size) stripped.
import {
  addEdge, Background, Connection, Controls, Edge, Handle, MiniMap, Node, NodeProps, Position, ReactFlow,
  ReactFlowProvider, useEdgesState, useNodesState, useReactFlow,
} from "@xyflow/react";
import "@xyflow/react/dist/style.css";
import { createContext, DragEvent, FormEvent, ReactNode, useCallback, useContext, useEffect, useMemo, useRef, useState } from "react";
import { ApiError, call } from "./api";
import { RunPanel, RunView } from "./RunPanel";
import { CredentialOption, SchemaForm } from "./SchemaForm";
import { FlowData, NodeType, Workflow } from "./types";
import { VersionsPanel } from "./Versions";
import { groupProblems, GraphProblems } from "./warnings";
import { ErrorBanner, Field, useLoad } from "./ui";

interface CanvasState {
  catalog: Record<string, NodeType>;
  problems: GraphProblems;
  run: RunView;
}

const Canvas = createContext<CanvasState>({ catalog: {}, problems: { nodes: {}, edges: {}, graph: [] }, run: { status: {}, tokens: {} } });
const DRAG_TYPE = "application/x-agentic-node";
const SAVE_DELAY_MS = 600;
const MINIMAP_COLORS: Record<string, string> = { running: "#2563eb", retrying: "#2563eb", succeeded: "#16a34a", failed: "#dc2626", interrupted: "#d97706" };

export function toFlow(nodes: Node[], edges: Edge[]): FlowData {
  return {
    nodes: nodes.map((n) => ({ id: n.id, type: n.type ?? "", position: { x: Math.round(n.position.x), y: Math.round(n.position.y) }, data: n.data })),
    edges: edges.map((e) => ({
      id: e.id, source: e.source, target: e.target,
      ...(e.sourceHandle ? { sourceHandle: e.sourceHandle } : {}), ...(e.targetHandle ? { targetHandle: e.targetHandle } : {}),
    })),
  };
}

/** The first place below `at` where a new node does not cover another one. */
function freeSpot(nodes: Node[], at: { x: number; y: number }) {
  const spot = { ...at };
  while (nodes.some((n) => Math.abs(n.position.x - spot.x) < 180 && Math.abs(n.position.y - spot.y) < 90)) spot.y += 100;
  return spot;
}

function outputsOf(type: NodeType | undefined, data: Record<string, unknown>): string[] {
  if (type?.type === "router") return ((data.routes as Array<{ name?: string }> | undefined) ?? []).map((r) => r.name ?? "").filter(Boolean);
  return type?.outputs ?? [];
}

function FlowNodeView({ id, type, data, selected }: NodeProps) {
  const { catalog, problems, run } = useContext(Canvas);
  const spec = catalog[type];
  const outputs = outputsOf(spec, data);
  const nodeProblems = problems.nodes[id] ?? [];
  const status = run.status[id] ?? "idle";
  const tokens = run.tokens[id];
  return (
    <div className={`flow-node status-${status}${selected ? " selected" : ""}${nodeProblems.length ? " has-problems" : ""}`}
      data-testid={`node-${id}`} data-status={status}>
      {type !== "start" && <Handle type="target" position={Position.Left} />}
      <div className="node-head">
        <span className={`cat cat-${spec?.category ?? "unknown"}`} aria-hidden />
        <strong>{spec?.display_name ?? type}</strong>
        <span className="node-id">{id}</span>
      </div>
      {status !== "idle" && <div className="node-status">{status}</div>}
      {nodeProblems.length > 0 && (
        <ul className="node-problems" aria-label={`Problems of ${id}`}>{nodeProblems.map((p, i) => <li key={i}>{p}</li>)}</ul>
      )}
      {tokens && <div className="node-tokens" data-testid={`tokens-${id}`}>{tokens}</div>}
      {type !== "end" && (outputs.length === 0 ? <Handle type="source" position={Position.Right} /> : outputs.map((name, i) => (
        <div key={name} className="handle-label" style={{ top: `${((i + 1) * 100) / (outputs.length + 1)}%` }}>
          {name}
          <Handle type="source" id={name} position={Position.Right} />
        </div>
      )))}
    </div>
  );
}

export function Editor({ workflowId }: { workflowId: string }) {
  return (
    <ReactFlowProvider>
      <EditorInner workflowId={workflowId} />
    </ReactFlowProvider>
  );
}

type SaveState = "saved" | "pending" | "saving" | "conflict" | "error";

function EditorInner({ workflowId }: { workflowId: string }) {
  const flow = useReactFlow();
  const [workflow, setWorkflow] = useState<Workflow>();
  const [loadError, setLoadError] = useState<unknown>();
  const [catalogList] = useLoad(() => call<{ node_types: NodeType[] }>("GET", "/node-types"), []);
  const [credentialList] = useLoad(() => call<{ credentials?: CredentialOption[] }>("GET", "/credentials?page_size=200"), []);
  const catalog = useMemo(() => Object.fromEntries((catalogList?.node_types ?? []).map((t) => [t.type, t])), [catalogList]);
  const [nodes, setNodes, onNodesChange] = useNodesState<Node>([]);
  const [edges, setEdges, onEdgesChange] = useEdgesState<Edge>([]);
  const [selectedId, setSelectedId] = useState<string>();
  const [problems, setProblems] = useState<GraphProblems>({ nodes: {}, edges: {}, graph: [] });
  const [saveState, setSaveState] = useState<SaveState>("saved");
  const [saveError, setSaveError] = useState<unknown>();
  const [conflict, setConflict] = useState<Workflow>();
  const [run, setRun] = useState<RunView>({ status: {}, tokens: {} });
  const [side, setSide] = useState<"node" | "run" | "versions" | "details">("node");
  const [notice, setNotice] = useState("");
  const runOpened = useRef(false);
  if (side === "run") runOpened.current = true;
  const etag = useRef("");
  const saved = useRef("");
  // Undo history of serialized graphs; `last` is the settled state the next change is measured from.
  const history = useRef({ past: [] as string[], future: [] as string[], last: "", applying: false });

  const load = useCallback((w: Workflow) => {
    const data = w.flow_data ?? { nodes: [], edges: [] };
    const loaded = data.nodes.map((n) => ({ ...n, data: n.data ?? {} }));
    setWorkflow(w);
    etag.current = w.etag;
    // Compared in the one serialization the editor produces, so opening a workflow never saves it.
    saved.current = JSON.stringify(toFlow(loaded, data.edges));
    history.current.last = saved.current;
    setNodes(loaded);
    setEdges(data.edges.map((e) => ({ ...e })));
    setProblems(groupProblems(w.warnings ?? []));
    setSaveState("saved");
    setConflict(undefined);
  }, [setNodes, setEdges]);

  useEffect(() => {
    call<Workflow>("GET", `/workflows/${workflowId}`).then(load, setLoadError);
  }, [workflowId, load]);

  const current = useMemo(() => JSON.stringify(toFlow(nodes, edges)), [nodes, edges]);

  // Saves run one after another: a second PATCH sent before the first answered would carry a stale etag.
  const saving = useRef<Promise<boolean>>(Promise.resolve(true));
  const save = useCallback((): Promise<boolean> => {
    const body = current;
    saving.current = saving.current.then(() => put(body));
    return saving.current;
  }, [current]); // eslint-disable-line react-hooks/exhaustive-deps

  async function put(body: string): Promise<boolean> {
    if (body === saved.current) return true;
    setSaveState("saving");
    try {
      const w = await call<Workflow>("PATCH", `/workflows/${workflowId}?update_mask=flow_data`, { etag: etag.current, flow_data: JSON.parse(body) });
      etag.current = w.etag;
      saved.current = body;
      setWorkflow((old) => ({ ...old!, version: w.version, etag: w.etag, update_time: w.update_time }));
      setProblems(groupProblems(w.warnings ?? []));
      setSaveError(undefined);
      setSaveState("saved");
      return true;
    } catch (e) {
      if (e instanceof ApiError && e.status === "ABORTED") {
        // Someone else saved first: show both versions, overwrite nothing.
        setConflict(await call<Workflow>("GET", `/workflows/${workflowId}`));
        setSaveState("conflict");
      } else {
        setSaveError(e);
        setSaveState("error");
      }
      return false;
    }
  }

  // Autosave a moment after the last change; never while a conflict is open.
  useEffect(() => {
    if (!workflow || current === saved.current || saveState === "conflict" || saveState === "saving") return;
    setSaveState("pending");
    const timer = setTimeout(() => void save(), SAVE_DELAY_MS);
    return () => clearTimeout(timer);
  }, [current, workflow, save]); // eslint-disable-line react-hooks/exhaustive-deps

  // Undo history: one entry per settled change (a node drag is one step, not one per pixel).
  useEffect(() => {
    const h = history.current;
    if (!saved.current) return; // not loaded yet
    if (h.applying) { h.applying = false; h.last = current; return; }
    if (current === h.last) return;
    const timer = setTimeout(() => {
      h.past.push(h.last);
      h.future = [];
      h.last = current;
    }, 300);
    return () => clearTimeout(timer);
  }, [current]);

  const apply = (snapshot: string) => {
    const data = JSON.parse(snapshot) as FlowData;
    history.current.applying = true;
    setNodes(data.nodes);
    setEdges(data.edges);
  };
  const undo = () => { const h = history.current; const prev = h.past.pop(); if (prev) { h.future.push(h.last); apply(prev); } };
  const redo = () => { const h = history.current; const next = h.future.pop(); if (next) { h.past.push(h.last); apply(next); } };

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (!(e.ctrlKey || e.metaKey) || (e.target as HTMLElement).closest("input, textarea, select")) return;
      if (e.key.toLowerCase() === "z") { e.preventDefault(); if (e.shiftKey) redo(); else undo(); }
      if (e.key.toLowerCase() === "y") { e.preventDefault(); redo(); }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  });

  const onConnect = useCallback((c: Connection) => setEdges((es) => addEdge({ ...c, id: `e-${c.source}-${c.sourceHandle ?? "out"}-${c.target}` }, es)), [setEdges]);

  function addNode(type: string, position?: { x: number; y: number }) {
    let n = 1;
    while (nodes.some((node) => node.id === `${type}-${n}`)) n++;
    const id = `${type}-${n}`;
    const at = position ?? freeSpot(nodes, centre());
    setNodes((ns) => [...ns.map((node) => ({ ...node, selected: false })), { id, type, position: at, data: {}, selected: true }]);
    setSelectedId(id);
    setSide("node");
  }

  /** Name, description and tags: in the same queue as graph saves, with the same etag. */
  function saveDetails(details: Pick<Workflow, "name" | "description" | "tags">): Promise<void> {
    const next = saving.current.then(async () => {
      const w = await call<Workflow>("PATCH", `/workflows/${workflowId}?update_mask=name,description,tags`, { ...details, etag: etag.current });
      etag.current = w.etag;
      setWorkflow((old) => ({ ...old!, ...details, version: w.version, etag: w.etag }));
    });
    saving.current = next.then(() => true, () => true);
    return next;
  }

  async function saveAsTemplate() {
    const name = window.prompt("Template name", workflow?.name);
    if (!name || !(await save())) return;
    try {
      await call("POST", "/templates", { workflow_id: workflowId, name, category: "organization" });
      setNotice(`Saved as the template “${name}”: it is in the gallery of everyone in this organization.`);
    } catch (e) {
      setSaveError(e);
    }
  }

  function centre() {
    const box = document.querySelector(".canvas")?.getBoundingClientRect();
    return flow.screenToFlowPosition(box ? { x: box.x + box.width / 2 - 80, y: box.y + box.height / 2 - 30 } : { x: 400, y: 300 });
  }

  function onDrop(e: DragEvent) {
    const type = e.dataTransfer.getData(DRAG_TYPE);
    if (!type) return;
    e.preventDefault();
    addNode(type, flow.screenToFlowPosition({ x: e.clientX, y: e.clientY }));
  }

  const selected = nodes.find((n) => n.id === selectedId);
  const nodeTypes = useMemo(() => {
    const types = new Set([...Object.keys(catalog), ...nodes.map((n) => n.type ?? "")]);
    return Object.fromEntries([...types].map((t) => [t, FlowNodeView]));
  }, [catalog, nodes.map((n) => n.type).join()]); // eslint-disable-line react-hooks/exhaustive-deps
  const viewEdges = useMemo(() => edges.map((e) => problems.edges[e.id]
    ? { ...e, label: problems.edges[e.id].join("; "), className: "edge-problem" } : e), [edges, problems]);

  if (loadError) return <main className="page"><ErrorBanner error={loadError} /></main>;
  if (!workflow) return <main className="page">Loading…</main>;

  return (
    <Canvas.Provider value={{ catalog, problems, run }}>
      <div className="editor">
        <div className="editor-head">
          <a href="#/workflows">Workflows</a> / <h1>{workflow.name}</h1>
          <span className={`save save-${saveState}`} role="status" data-testid="save-state">
            {{ saved: `Saved · v${workflow.version}`, pending: "Unsaved changes", saving: "Saving…", conflict: "Conflict", error: "Not saved" }[saveState]}
          </span>
          <span className="spacer" />
          <button onClick={undo} aria-label="Undo" title="Undo (Ctrl+Z)">↶</button>
          <button onClick={redo} aria-label="Redo" title="Redo (Ctrl+Shift+Z)">↷</button>
          <button aria-pressed={side === "details"} onClick={() => setSide("details")}>Details</button>
          <button onClick={() => void saveAsTemplate()}>Save as template</button>
          <button aria-pressed={side === "versions"} onClick={() => setSide("versions")}>Versions</button>
          <button className="primary" aria-pressed={side === "run"} onClick={() => setSide("run")}>Run</button>
        </div>
        <ErrorBanner error={saveError} />
        {notice && <div className="notice" role="status">{notice} <button className="link" onClick={() => setNotice("")}>Dismiss</button></div>}
        {conflict && <ConflictView mine={JSON.parse(current)} theirs={conflict}
          onTheirs={() => load(conflict)}
          onMine={() => { etag.current = conflict.etag; setConflict(undefined); setSaveState("pending"); void save(); }} />}
        {problems.graph.length > 0 && (
          <div className="warnings" role="status" aria-label="Workflow warnings">{problems.graph.map((p, i) => <span key={i}>⚠ {p}</span>)}</div>
        )}
        <div className="editor-body">
          <Palette types={catalogList?.node_types ?? []} onAdd={(t) => addNode(t)} />
          <div className="canvas" onDrop={onDrop} onDragOver={(e) => { e.preventDefault(); e.dataTransfer.dropEffect = "move"; }}>
            <ReactFlow nodes={nodes} edges={viewEdges} nodeTypes={nodeTypes} onNodesChange={onNodesChange} onEdgesChange={onEdgesChange}
              onConnect={onConnect} onSelectionChange={({ nodes: sel }) => { if (sel[0]) { setSelectedId(sel[0].id); } }}
              onNodeClick={(_, n) => { setSelectedId(n.id); setSide("node"); }}
              deleteKeyCode={["Backspace", "Delete"]} fitView fitViewOptions={{ padding: 0.3, maxZoom: 1.2 }}
              proOptions={{ hideAttribution: true }}>
              <Background />
              <Controls />
              <MiniMap pannable zoomable ariaLabel="Minimap" nodeColor={(n) => MINIMAP_COLORS[run.status[n.id] ?? ""] ?? "#c5cbd5"} />
            </ReactFlow>
          </div>
          <aside className="side" aria-label="Side panel">
            {/* Once opened the run panel stays mounted: looking at a node mid-run must not stop following it. */}
            {runOpened.current && (
              <div hidden={side !== "run"}>
                <RunPanel workflowId={workflowId} beforeRun={save} onView={setRun} onClose={() => setSide("node")} />
              </div>
            )}
            {side === "run" ? null : side === "details" ? (
              <DetailsForm workflow={workflow} onSave={saveDetails} onClose={() => setSide("node")} />
            ) : side === "versions" ? (
              <VersionsPanel workflowId={workflowId} version={workflow.version} etag={etag.current}
                onRestored={load} onClose={() => setSide("node")} />
            ) : selected ? (
              <NodePanel node={selected} spec={catalog[selected.type ?? ""]} problems={problems.nodes[selected.id] ?? []}
                credentials={credentialList?.credentials ?? []}
                onChange={(data) => setNodes((ns) => ns.map((n) => (n.id === selected.id ? { ...n, data } : n)))}
                onDelete={() => { setNodes((ns) => ns.filter((n) => n.id !== selected.id)); setEdges((es) => es.filter((e) => e.source !== selected.id && e.target !== selected.id)); setSelectedId(undefined); }}>
                <Connections node={selected} spec={catalog[selected.type ?? ""]} nodes={nodes} edges={edges}
                  onConnect={onConnect} onRemove={(id) => setEdges((es) => es.filter((e) => e.id !== id))} />
              </NodePanel>
            ) : (
              <p className="muted">Select a node to edit its settings, or add one from the palette (click or drag).</p>
            )}
          </aside>
        </div>
      </div>
    </Canvas.Provider>
  );
}

function Palette({ types, onAdd }: { types: NodeType[]; onAdd: (type: string) => void }) {
  const [search, setSearch] = useState("");
  const q = search.toLowerCase();
  const shown = types.filter((t) => !q || `${t.display_name} ${t.type} ${t.description}`.toLowerCase().includes(q));
  const groups = [...new Set(shown.map((t) => t.category))].sort();
  return (
    <nav className="palette" aria-label="Node palette">
      <input type="search" placeholder="Search nodes" aria-label="Search nodes" value={search} onChange={(e) => setSearch(e.target.value)} />
      {groups.map((g) => (
        <section key={g}>
          <h3>{g}</h3>
          {shown.filter((t) => t.category === g).map((t) => (
            <button key={t.type} className="palette-item" draggable title={t.description} aria-label={`Add ${t.display_name}`}
              onDragStart={(e) => { e.dataTransfer.setData(DRAG_TYPE, t.type); e.dataTransfer.effectAllowed = "move"; }}
              onClick={() => onAdd(t.type)}>
              <span className={`cat cat-${t.category}`} aria-hidden />{t.display_name}
            </button>
          ))}
        </section>
      ))}
    </nav>
  );
}

function DetailsForm({ workflow, onSave, onClose }: {
  workflow: Workflow; onSave: (d: Pick<Workflow, "name" | "description" | "tags">) => Promise<void>; onClose: () => void;
}) {
  const [name, setName] = useState(workflow.name);
  const [description, setDescription] = useState(workflow.description);
  const [tags, setTags] = useState(workflow.tags.join(", "));
  const [error, setError] = useState<unknown>();
  const [done, setDone] = useState(false);
  async function submit(e: FormEvent) {
    e.preventDefault();
    setError(undefined);
    setDone(false);
    try {
      await onSave({ name, description, tags: tags.split(",").map((t) => t.trim()).filter(Boolean) });
      setDone(true);
    } catch (err) {
      setError(err);
    }
  }
  return (
    <form onSubmit={(e) => void submit(e)} aria-label="Details">
      <div className="panel-head"><h2>Details</h2><button type="button" onClick={onClose} aria-label="Close details">×</button></div>
      <ErrorBanner error={error} shownFields={["name", "description", "tags"]} />
      <Field label="Name" name="name" error={error}><input id="f-name" value={name} onChange={(e) => setName(e.target.value)} /></Field>
      <Field label="Description" name="description" error={error}>
        <textarea id="f-description" rows={3} value={description} onChange={(e) => setDescription(e.target.value)} />
      </Field>
      <Field label="Tags" name="tags" error={error} hint="Comma-separated.">
        <input id="f-tags" value={tags} onChange={(e) => setTags(e.target.value)} />
      </Field>
      <button className="primary">Save details</button> {done && <span role="status">Saved.</span>}
    </form>
  );
}

/** The node's outgoing connections, editable without a mouse (the keyboard way to connect handles). */
function Connections({ node, spec, nodes, edges, onConnect, onRemove }: {
  node: Node; spec?: NodeType; nodes: Node[]; edges: Edge[]; onConnect: (c: Connection) => void; onRemove: (id: string) => void;
}) {
  const outputs = outputsOf(spec, node.data);
  const [handle, setHandle] = useState("");
  const [target, setTarget] = useState("");
  if (node.type === "end") return null;
  const targets = nodes.filter((n) => n.id !== node.id && n.type !== "start");
  const chosenHandle = outputs.length ? handle || outputs[0] : null;
  return (
    <section className="connections" aria-label="Connections">
      <h3>Connections</h3>
      <ul>
        {edges.filter((e) => e.source === node.id).map((e) => (
          <li key={e.id}>
            {e.sourceHandle ? `${e.sourceHandle} → ` : "→ "}<code>{e.target}</code>{" "}
            <button className="link" aria-label={`Remove connection to ${e.target}`} onClick={() => onRemove(e.id)}>remove</button>
          </li>
        ))}
      </ul>
      <div className="row">
        {outputs.length > 0 && (
          <select aria-label="Output" value={chosenHandle ?? ""} onChange={(e) => setHandle(e.target.value)}>
            {outputs.map((o) => <option key={o}>{o}</option>)}
          </select>
        )}
        <select aria-label="Connect to" value={target} onChange={(e) => setTarget(e.target.value)}>
          <option value="">Connect to…</option>
          {targets.map((n) => <option key={n.id} value={n.id}>{n.id}</option>)}
        </select>
        <button disabled={!target} onClick={() => { onConnect({ source: node.id, sourceHandle: chosenHandle, target, targetHandle: null }); setTarget(""); }}>Add</button>
      </div>
    </section>
  );
}

function NodePanel({ node, spec, problems, credentials, onChange, onDelete, children }: {
  node: Node; spec?: NodeType; problems: string[]; credentials: CredentialOption[];
  onChange: (data: Record<string, unknown>) => void; onDelete: () => void; children: ReactNode;
}) {
  return (
    <section aria-label={`Settings of ${node.id}`}>
      <h2>{spec?.display_name ?? node.type} <span className="node-id">{node.id}</span></h2>
      {spec ? <p className="muted">{spec.description}</p> : <p className="error">Unknown node type “{node.type}”.</p>}
      {spec && <SchemaForm nodeId={node.id} schema={spec.params_schema} value={node.data} onChange={onChange}
        problems={problems} credentials={credentials} credentialType={spec.credential_type} />}
      {problems.filter((p) => !Object.keys(spec?.params_schema.properties ?? {}).some((k) => p.startsWith(`${k}:`)))
        .map((p, i) => <div key={i} className="field-error">{p}</div>)}
      {children}
      <button className="danger" onClick={onDelete}>Delete node</button>
    </section>
  );
}

function ConflictView({ mine, theirs, onTheirs, onMine }: { mine: FlowData; theirs: Workflow; onTheirs: () => void; onMine: () => void }) {
  const other = theirs.flow_data ?? { nodes: [], edges: [] };
  const ids = (f: FlowData) => new Set(f.nodes.map((n) => n.id));
  const [a, b] = [ids(mine), ids(other)];
  const changed = mine.nodes.filter((n) => b.has(n.id) && JSON.stringify(n) !== JSON.stringify(other.nodes.find((o) => o.id === n.id)));
  return (
    <div className="conflict" role="alert">
      <strong>This workflow was changed elsewhere (now v{theirs.version}); your changes are not saved yet.</strong>
      <div className="conflict-cols">
        <div><h4>Yours</h4>{mine.nodes.length} nodes, {mine.edges.length} edges; only here: {[...a].filter((x) => !b.has(x)).join(", ") || "none"}</div>
        <div><h4>Theirs (v{theirs.version})</h4>{other.nodes.length} nodes, {other.edges.length} edges; only there: {[...b].filter((x) => !a.has(x)).join(", ") || "none"}</div>
      </div>
      {changed.length > 0 && <div>Different in both: {changed.map((n) => n.id).join(", ")}</div>}
      <button onClick={onTheirs}>Use theirs</button> <button className="primary" onClick={onMine}>Keep mine (save over theirs)</button>
    </div>
  );
}
