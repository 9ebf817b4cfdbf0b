// Small shared pieces: error display with field violations, labelled fields, hash routing.
import { ReactNode, useCallback, useEffect, useState, useSyncExternalStore } from "react";
import { ApiError } from "./api";

/** The API's message, its status, and any violations not shown next to a field. */
export function ErrorBanner({ error, shownFields = [] }: { error: unknown; shownFields?: string[] }) {
  if (!error) return null;
  if (!(error instanceof ApiError))
    return <div className="error" role="alert">{String((error as Error).message ?? error)}</div>;
  const others = error.violations.filter((v) => !shownFields.some((f) => v.field === f || v.field.endsWith(`.${f}`)));
  return (
    <div className="error" role="alert">
      <strong>{error.message}</strong> <span className="muted">({error.httpStatus || "network"} {error.status})</span>
      {others.length > 0 && (
        <ul>{others.map((v, i) => <li key={i}><code>{v.field}</code>: {v.description}</li>)}</ul>
      )}
    </div>
  );
}

/** A labelled input with the API's field violation under it. */
export function Field({ label, name, error, children, hint }: {
  label: string; name: string; error?: unknown; children: ReactNode; hint?: string;
}) {
  const message = error instanceof ApiError ? error.fieldError(name) : undefined;
  return (
    <div className={`field${message ? " invalid" : ""}`}>
      <label htmlFor={`f-${name}`}>{label}</label>
      {children}
      {hint && <div className="hint">{hint}</div>}
      {message && <div className="field-error" role="alert" data-field={name}>{message}</div>}
    </div>
  );
}

function hash() {
  return window.location.hash.replace(/^#/, "") || "/";
}

export function useRoute(): string {
  return useSyncExternalStore((cb) => {
    window.addEventListener("hashchange", cb);
    return () => window.removeEventListener("hashchange", cb);
  }, hash);
}

export function navigate(path: string) {
  window.location.hash = path;
}

/** Runs a loader when its dependencies change; returns [value, error, reload]. */
export function useLoad<T>(loader: () => Promise<T>, deps: unknown[]): [T | undefined, unknown, () => void] {
  const [value, setValue] = useState<T>();
  const [error, setError] = useState<unknown>();
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    loader().then((v) => { if (live) { setValue(v); setError(undefined); } }, (e) => live && setError(e));
    return () => { live = false; };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return [value, error, reload];
}

/** Fired on window when an organization is created, so the top bar's switcher lists it. */
export const ORGANIZATIONS_CHANGED = "agentic:organizations-changed";

export function when(iso?: string) {
  return iso ? new Date(iso).toLocaleString() : "";
}
