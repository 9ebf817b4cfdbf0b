// A form generated from a node type's JSON Schema (the subset the node catalog uses: string, number,
// integer, boolean, enum, and arrays/objects edited as JSON). Credentials get a picker of the
// organization's credentials of the node's service type.
import { useEffect, useState } from "react";
import { JsonSchema } from "./types";

export interface CredentialOption {
  name: string;
  service_type: string;
}

interface Props {
  nodeId: string;
  schema: JsonSchema;
  value: Record<string, unknown>;
  onChange: (value: Record<string, unknown>) => void;
  problems: string[]; // "field: message" for this node
  credentials: CredentialOption[];
  credentialType: string;
}

const LONG_TEXT = /prompt|template|expression|condition/;

export function SchemaForm({ nodeId, schema, value, onChange, problems, credentials, credentialType }: Props) {
  const properties = Object.entries(schema.properties ?? {});
  if (!properties.length) return <p className="muted">This node has no settings.</p>;
  const required = new Set(schema.required ?? []);
  const set = (key: string, v: unknown) => {
    const next = { ...value };
    if (v === undefined || v === "") delete next[key];
    else next[key] = v;
    onChange(next);
  };
  return (
    <div className="schema-form">
      {properties.map(([key, prop]) => {
        const id = `p-${nodeId}-${key}`;
        const problem = problems.find((p) => p.startsWith(`${key}:`) || p.startsWith(`${key}.`));
        return (
          <div key={key} className={`field${problem ? " invalid" : ""}`}>
            <label htmlFor={id}>{key}{required.has(key) && <span aria-label="required"> *</span>}</label>
            {key === "credential" && prop.type === "object" ? (
              <CredentialPicker id={id} value={value[key] as CredentialOption | undefined} options={credentials}
                serviceType={credentialType} onChange={(v) => set(key, v)} />
            ) : (
              <Input id={id} name={key} schema={prop} value={value[key]} onChange={(v) => set(key, v)} />
            )}
            {prop.description && <div className="hint">{prop.description}</div>}
            {problem && <div className="field-error" role="alert">{problem.slice(problem.indexOf(":") + 1).trim()}</div>}
          </div>
        );
      })}
    </div>
  );
}

function Input({ id, name, schema, value, onChange }: {
  id: string; name: string; schema: JsonSchema; value: unknown; onChange: (v: unknown) => void;
}) {
  if (schema.enum)
    return (
      <select id={id} value={value === undefined ? "" : String(value)} onChange={(e) => onChange(e.target.value || undefined)}>
        <option value="">(default)</option>
        {schema.enum.map((o) => <option key={String(o)} value={String(o)}>{String(o)}</option>)}
      </select>
    );
  switch (schema.type) {
    case "boolean":
      return <input id={id} type="checkbox" checked={value === true} onChange={(e) => onChange(e.target.checked)} />;
    case "integer":
    case "number":
      return (
        <input id={id} type="number" value={value === undefined ? "" : String(value)} min={schema.minimum} max={schema.maximum}
          step={schema.type === "integer" ? 1 : "any"}
          onChange={(e) => onChange(e.target.value === "" ? undefined : Number(e.target.value))} />
      );
    case "array":
    case "object":
      return <JsonInput id={id} value={value} onChange={onChange} />;
    default:
      return LONG_TEXT.test(name) ? (
        <textarea id={id} rows={4} value={(value as string) ?? ""} onChange={(e) => onChange(e.target.value)} />
      ) : (
        <input id={id} type={schema.format === "uri" ? "url" : "text"} value={(value as string) ?? ""} onChange={(e) => onChange(e.target.value)} />
      );
  }
}

/** JSON edited as text: applied when it parses, the parse error shown while it does not. */
function JsonInput({ id, value, onChange }: { id: string; value: unknown; onChange: (v: unknown) => void }) {
  const [text, setText] = useState(() => (value === undefined ? "" : JSON.stringify(value, null, 2)));
  const [error, setError] = useState("");
  useEffect(() => setText(value === undefined ? "" : JSON.stringify(value, null, 2)), [id]); // eslint-disable-line react-hooks/exhaustive-deps
  return (
    <>
      <textarea id={id} rows={5} className="mono" value={text} aria-invalid={!!error}
        onChange={(e) => {
          setText(e.target.value);
          try {
            onChange(e.target.value.trim() ? JSON.parse(e.target.value) : undefined);
            setError("");
          } catch (err) {
            setError((err as Error).message);
          }
        }} />
      {error && <div className="field-error">Not valid JSON: {error}</div>}
    </>
  );
}

function CredentialPicker({ id, value, options, serviceType, onChange }: {
  id: string; value?: CredentialOption; options: CredentialOption[]; serviceType: string; onChange: (v?: CredentialOption) => void;
}) {
  const usable = options.filter((c) => !serviceType || c.service_type === serviceType);
  const current = value ? `${value.service_type}/${value.name}` : "";
  const known = usable.some((c) => `${c.service_type}/${c.name}` === current);
  return (
    <select id={id} value={current} onChange={(e) => {
      const [service_type, ...rest] = e.target.value.split("/");
      onChange(e.target.value ? { service_type, name: rest.join("/") } : undefined);
    }}>
      <option value="">(none)</option>
      {value && !known && <option value={current}>{current} (not in this organization)</option>}
      {usable.map((c) => <option key={`${c.service_type}/${c.name}`} value={`${c.service_type}/${c.name}`}>{c.name} ({c.service_type})</option>)}
    </select>
  );
}
