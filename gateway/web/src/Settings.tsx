// Settings of the current organization: credentials (secrets go in, never come back), API keys (the key
// is shown once), members and roles, and organizations.
import { FormEvent, ReactNode, useState } from "react";
import { call, getSession, switchOrganization } from "./api";
import { ErrorBanner, Field, ORGANIZATIONS_CHANGED, useLoad, when } from "./ui";

const TABS = { credentials: "Credentials", "api-keys": "API keys", members: "Members", organizations: "Organizations" };
const ROLES = ["viewer", "member", "admin", "owner"];

export function SettingsPage({ tab }: { tab: string }) {
  return (
    <main className="page">
      <h1>Settings</h1>
      <nav className="tabs" aria-label="Settings">
        {Object.entries(TABS).map(([id, label]) => (
          <a key={id} href={`#/settings/${id}`} aria-current={tab === id ? "page" : undefined}>{label}</a>
        ))}
      </nav>
      {tab === "api-keys" ? <ApiKeys /> : tab === "members" ? <Members /> : tab === "organizations" ? <Organizations /> : <Credentials />}
    </main>
  );
}

/** A form that posts, shows the API's errors (violations by field), and reloads the list on success. */
function useAction(reload: () => void): [unknown, (action: () => Promise<unknown>) => (e?: FormEvent) => Promise<boolean>] {
  const [error, setError] = useState<unknown>();
  return [error, (action) => async (e) => {
    e?.preventDefault();
    setError(undefined);
    try {
      await action();
      reload();
      return true;
    } catch (err) {
      setError(err);
      return false;
    }
  }];
}

function Section({ title, children }: { title: string; children: ReactNode }) {
  return <section className="card settings-section" aria-label={title}><h2>{title}</h2>{children}</section>;
}

interface Credential { id: string; name: string; service_type: string; description: string; hint: string; update_time: string }

function Credentials() {
  const [list, listError, reload] = useLoad(() => call<{ credentials?: Credential[] }>("GET", "/credentials?page_size=200"), []);
  const [error, run] = useAction(reload);
  const [form, setForm] = useState({ name: "", service_type: "openai", description: "", secret: "" });
  const [rotating, setRotating] = useState<string>();
  const [secret, setSecret] = useState("");
  const set = (k: keyof typeof form) => (e: { target: { value: string } }) => setForm({ ...form, [k]: e.target.value });
  const create = run(async () => {
    const { secret: value, ...credential } = form;
    await call("POST", "/credentials", { credential, secret: value });
    setForm({ ...form, name: "", description: "", secret: "" });
  });
  return (
    <Section title="Credentials">
      <p className="muted">Secrets are encrypted and never shown again; nodes refer to a credential by service and name.</p>
      <ErrorBanner error={error ?? listError} shownFields={["name", "service_type", "secret"]} />
      <table className="list">
        <thead><tr><th>Name</th><th>Service</th><th>Secret</th><th>Updated</th><th /></tr></thead>
        <tbody>
          {list?.credentials?.map((c) => (
            <tr key={c.id}>
              <td>{c.name}<div className="muted small">{c.description}</div></td>
              <td>{c.service_type}</td>
              <td><code>{c.hint || "••••"}</code></td>
              <td>{when(c.update_time)}</td>
              <td className="actions">
                {rotating === c.id ? (
                  <form className="row" onSubmit={(e) => void run(async () => {
                    await call("PATCH", `/credentials/${c.id}?update_mask=secret`, { credential: { id: c.id }, secret });
                    setRotating(undefined);
                    setSecret("");
                  })(e)}>
                    <input type="password" aria-label={`New secret for ${c.name}`} value={secret} onChange={(e) => setSecret(e.target.value)} autoComplete="off" />
                    <button className="primary">Save</button>
                    <button type="button" onClick={() => setRotating(undefined)}>Cancel</button>
                  </form>
                ) : <button onClick={() => setRotating(c.id)}>Rotate</button>}
                <button className="danger" onClick={() => confirm(`Delete credential ${c.name}?`) && void run(() => call("DELETE", `/credentials/${c.id}`))()}>Delete</button>
              </td>
            </tr>
          ))}
          {list && !list.credentials?.length && <tr><td colSpan={5} className="empty">No credentials yet.</td></tr>}
        </tbody>
      </table>
      <form onSubmit={(e) => void create(e)} className="grid-form" aria-label="New credential">
        <Field label="Name" name="name" error={error}><input id="f-name" value={form.name} onChange={set("name")} /></Field>
        <Field label="Service" name="service_type" error={error}><input id="f-service_type" value={form.service_type} onChange={set("service_type")} /></Field>
        <Field label="Description" name="description" error={error}><input id="f-description" value={form.description} onChange={set("description")} /></Field>
        <Field label="Secret" name="secret" error={error}><input id="f-secret" type="password" autoComplete="off" value={form.secret} onChange={set("secret")} /></Field>
        <button className="primary">Add credential</button>
      </form>
    </Section>
  );
}

interface ApiKey { id: string; name: string; prefix: string; role: string; create_time: string; last_used_time?: string }

function ApiKeys() {
  const [list, listError, reload] = useLoad(() => call<{ api_keys?: ApiKey[] }>("GET", "/api-keys?page_size=200"), []);
  const [error, run] = useAction(reload);
  const [name, setName] = useState("");
  const [role, setRole] = useState("member");
  const [created, setCreated] = useState<string>();
  return (
    <Section title="API keys">
      <ErrorBanner error={error ?? listError} shownFields={["name", "role"]} />
      {created && (
        <div className="notice" role="alert">
          Copy this key now; it is not shown again: <code data-testid="new-api-key">{created}</code>{" "}
          <button onClick={() => void navigator.clipboard?.writeText(created)}>Copy</button>
          <button onClick={() => setCreated(undefined)}>Done</button>
        </div>
      )}
      <table className="list">
        <thead><tr><th>Name</th><th>Key</th><th>Role</th><th>Created</th><th>Last used</th><th /></tr></thead>
        <tbody>
          {list?.api_keys?.map((k) => (
            <tr key={k.id}>
              <td>{k.name}</td><td><code>{k.prefix}…</code></td><td>{k.role}</td><td>{when(k.create_time)}</td><td>{when(k.last_used_time) || "never"}</td>
              <td className="actions"><button className="danger" onClick={() => confirm(`Revoke ${k.name}?`) && void run(() => call("DELETE", `/api-keys/${k.id}`))()}>Revoke</button></td>
            </tr>
          ))}
          {list && !list.api_keys?.length && <tr><td colSpan={6} className="empty">No API keys yet.</td></tr>}
        </tbody>
      </table>
      <form className="grid-form" aria-label="New API key" onSubmit={(e) => void run(async () => {
        const reply = await call<{ key: string }>("POST", "/api-keys", { name, role });
        setCreated(reply.key);
        setName("");
      })(e)}>
        <Field label="Name" name="name" error={error}><input id="f-name" value={name} onChange={(e) => setName(e.target.value)} /></Field>
        <Field label="Role" name="role" error={error}>
          <select id="f-role" value={role} onChange={(e) => setRole(e.target.value)}>{ROLES.slice(0, 3).map((r) => <option key={r}>{r}</option>)}</select>
        </Field>
        <button className="primary">Create key</button>
      </form>
    </Section>
  );
}

interface Member { user_id: string; email: string; display_name: string; role: string; create_time: string }

function Members() {
  const session = getSession()!;
  const org = session.organization_id;
  const [list, listError, reload] = useLoad(() => call<{ members?: Member[] }>("GET", `/organizations/${org}/members?page_size=200`), [org]);
  const [error, run] = useAction(reload);
  const [email, setEmail] = useState("");
  const [role, setRole] = useState("member");
  return (
    <Section title="Members">
      <ErrorBanner error={error ?? listError} shownFields={["email", "role"]} />
      <table className="list">
        <thead><tr><th>Member</th><th>Role</th><th>Since</th><th /></tr></thead>
        <tbody>
          {list?.members?.map((m) => (
            <tr key={m.user_id}>
              <td>{m.display_name || m.email}<div className="muted small">{m.email}</div></td>
              <td>
                <select aria-label={`Role of ${m.email}`} value={m.role}
                  onChange={(e) => void run(() => call("PATCH", `/organizations/${org}/members/${m.user_id}`, { role: e.target.value }))()}>
                  {ROLES.map((r) => <option key={r}>{r}</option>)}
                </select>
              </td>
              <td>{when(m.create_time)}</td>
              <td className="actions">
                {m.user_id !== session.user.id && (
                  <button className="danger" onClick={() => confirm(`Remove ${m.email}?`) && void run(() => call("DELETE", `/organizations/${org}/members/${m.user_id}`))()}>Remove</button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <form className="grid-form" aria-label="Add member" onSubmit={(e) => void run(async () => {
        await call("POST", `/organizations/${org}/members`, { email, role });
        setEmail("");
      })(e)}>
        <Field label="Email" name="email" error={error}><input id="f-email" type="email" value={email} onChange={(e) => setEmail(e.target.value)} /></Field>
        <Field label="Role" name="role" error={error}>
          <select id="f-role" value={role} onChange={(e) => setRole(e.target.value)}>{ROLES.map((r) => <option key={r}>{r}</option>)}</select>
        </Field>
        <button className="primary">Add member</button>
      </form>
    </Section>
  );
}

interface Organization { id: string; name: string; role: string; create_time: string }

function Organizations() {
  const session = getSession()!;
  const [list, listError, reload] = useLoad(() => call<{ organizations?: Organization[] }>("GET", "/organizations?page_size=200"), []);
  const [error, run] = useAction(reload);
  const [name, setName] = useState("");
  return (
    <Section title="Organizations">
      <ErrorBanner error={error ?? listError} shownFields={["name"]} />
      <ul className="orgs">
        {list?.organizations?.map((o) => (
          <li key={o.id}>
            <strong>{o.name}</strong> <span className="badge">{o.role}</span>{" "}
            {o.id === session.organization_id ? <span className="muted">current</span>
              : <button onClick={() => void run(() => switchOrganization(o.id))()}>Switch</button>}
          </li>
        ))}
      </ul>
      <form className="grid-form" aria-label="New organization" onSubmit={(e) => void run(async () => {
        await call("POST", "/organizations", { name });
        window.dispatchEvent(new Event(ORGANIZATIONS_CHANGED));
        setName("");
      })(e)}>
        <Field label="Name" name="name" error={error}><input id="f-name" value={name} onChange={(e) => setName(e.target.value)} /></Field>
        <button className="primary">Create organization</button>
      </form>
    </Section>
  );
}
