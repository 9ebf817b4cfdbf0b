import { lazy, Suspense, useEffect, useSyncExternalStore } from "react";
import { call, getSession, signOut, subscribe, switchOrganization } from "./api";
import { AuthPage } from "./Auth";
import { ExecutionsPage } from "./Executions";
import { KnowledgePage } from "./Knowledge";
import { SettingsPage } from "./Settings";
import { WorkflowsPage } from "./Workflows";
import { navigate, ORGANIZATIONS_CHANGED, useLoad, useRoute } from "./ui";

// The canvas (ReactFlow) is most of the code: load it when a workflow is opened, not on sign-in.
const Editor = lazy(() => import("./Editor").then((m) => ({ default: m.Editor })));

interface Organization {
  id: string;
  name: string;
  role: string;
}

export function App() {
  const session = useSyncExternalStore(subscribe, getSession);
  const route = useRoute();
  if (!session) return <AuthPage />;
  const [, section, id] = route.split("/");
  // Remount pages when the organization changes: everything they show belongs to it.
  const key = session.organization_id;
  return (
    <div className="shell">
      <TopBar />
      {section === "workflows" && id ? (
        <Suspense fallback={<main className="page">Loading the editor…</main>}>
          <Editor key={`${key}/${id}`} workflowId={decodeURIComponent(id)} />
        </Suspense>
      )
        : section === "executions" ? <ExecutionsPage key={key} selected={id} />
        : section === "knowledge" ? <KnowledgePage key={`${key}/${id ?? ""}`} selected={id && decodeURIComponent(id)} />
        : section === "settings" ? <SettingsPage key={key} tab={id ?? "credentials"} />
        : <WorkflowsPage key={key} />}
    </div>
  );
}

function TopBar() {
  const session = getSession()!;
  const route = useRoute();
  const [orgs, , reload] = useLoad(() => call<{ organizations: Organization[] }>("GET", "/organizations?page_size=100"), [session.organization_id]);
  useEffect(() => {
    window.addEventListener(ORGANIZATIONS_CHANGED, reload);
    return () => window.removeEventListener(ORGANIZATIONS_CHANGED, reload);
  }, [reload]);
  const link = (path: string, label: string) => (
    <a href={`#${path}`} aria-current={route.startsWith(path) ? "page" : undefined}>{label}</a>
  );
  return (
    <header className="topbar">
      <a className="brand" href="#/workflows">Agentic</a>
      <nav aria-label="Main">
        {link("/workflows", "Workflows")}
        {link("/executions", "Executions")}
        {link("/knowledge", "Knowledge bases")}
        {link("/settings", "Settings")}
      </nav>
      <span className="spacer" />
      <label className="org">
        <span className="sr-only">Organization</span>
        <select aria-label="Organization" value={session.organization_id}
          onChange={(e) => void switchOrganization(e.target.value).then(() => navigate("/workflows"))}>
          {(orgs?.organizations ?? [{ id: session.organization_id, name: "…", role: session.role }]).map((o) => (
            <option key={o.id} value={o.id}>{o.name} ({o.role})</option>
          ))}
        </select>
      </label>
      <span className="user" title={session.user.email}>{session.user.display_name || session.user.email}</span>
      <button onClick={() => void signOut()}>Sign out</button>
    </header>
  );
}
