// Knowledge bases: the small pure pieces of the page (request bodies, statuses), kept apart to be unit tested.
import { ApiError } from "./api";

export interface Collection {
  id: string;
  name: string;
  description?: string;
  embedding?: Embedding;
  chunking?: { splitter?: string; chunk_size?: number; chunk_overlap?: number };
  document_count?: number;
  chunk_count?: string | number; // int64: a string in JSON
  etag?: string;
  create_time?: string;
}

export interface Embedding {
  provider?: string;
  model?: string;
  dimensions?: number;
  credential_id?: string; // openai only: an organization credential whose secret is the API key
  base_url?: string; // openai only: the OpenAI-compatible endpoint
}

/** The embedding providers the vectorstore offers, as the form names them. */
export const PROVIDERS: Record<string, string> = {
  builtin: "Built-in (offline)",
  openai: "OpenAI-compatible",
  local: "Local model",
};

export interface KbDocument {
  id: string;
  name: string;
  source_type?: string;
  source?: string;
  content_type?: string;
  size_bytes?: string | number;
  status?: string;
  error?: string;
  chunk_count?: number;
  create_time?: string;
}

export interface SearchResult {
  chunk: { id: string; document_id: string; position?: number; content: string; metadata?: Record<string, unknown> };
  score: number;
  document_name?: string;
}

export interface CollectionForm {
  name: string;
  description: string;
  provider: string;
  model: string;
  dimensions: string;
  base_url: string;
  credential_id: string;
  splitter: string;
  chunk_size: string;
  chunk_overlap: string;
}

export const EMPTY_COLLECTION: CollectionForm = {
  name: "", description: "", provider: "builtin", model: "", dimensions: "", base_url: "", credential_id: "",
  splitter: "recursive", chunk_size: "", chunk_overlap: "",
};

/** The collection to create; blank settings are left out so that the service's defaults apply. Only the
 * chosen provider's fields are sent (the form keeps the others while the user switches back and forth). */
export function collectionBody(form: CollectionForm) {
  const number = (v: string) => (v.trim() === "" ? undefined : Number(v));
  const embedding: Embedding = { provider: form.provider || undefined, dimensions: number(form.dimensions) };
  if (form.provider !== "builtin") embedding.model = form.model.trim() || undefined; // builtin has one model
  if (form.provider === "openai") {
    embedding.base_url = form.base_url.trim() || undefined;
    embedding.credential_id = form.credential_id || undefined;
  }
  return {
    name: form.name.trim(),
    description: form.description.trim() || undefined,
    embedding,
    chunking: { splitter: form.splitter || undefined, chunk_size: number(form.chunk_size), chunk_overlap: number(form.chunk_overlap) },
  };
}

/** A chosen credential the API no longer finds (deleted meanwhile, or another organization's) is a 404 without
 * a field; shown under the credential select too, where the user fixes it. */
export function onCredentialField(error: unknown): unknown {
  if (!(error instanceof ApiError) || error.httpStatus !== 404 || !/credential/i.test(error.message)) return error;
  return new ApiError(error.httpStatus, error.status, error.message,
    [...error.details, { field_violations: [{ field: "credential_id", description: "not found in this organization: choose another credential" }] }]);
}

/** "DOCUMENT_STATUS_COMPLETED" → "completed" (a document without a status has not been picked up yet). */
export function shortStatus(status?: string): string {
  return (status || "DOCUMENT_STATUS_PENDING").replace("DOCUMENT_STATUS_", "").toLowerCase();
}

/** Completed and failed documents do not change by themselves; the others are worth polling. */
export function isFinal(status?: string): boolean {
  const s = shortStatus(status);
  return s === "completed" || s === "failed";
}

/** A metadata (or filter) text box: blank → none; anything but a JSON object → a violation shown under the field. */
export function parseMetadata(text: string, field = "metadata"): Record<string, unknown> | undefined {
  if (!text.trim()) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = undefined;
  }
  if (!value || typeof value !== "object" || Array.isArray(value))
    throw new ApiError(400, "INVALID_ARGUMENT", `${field.replace("upload_", "")} must be a JSON object`,
      [{ field_violations: [{ field, description: 'a JSON object, e.g. {"team": "hr"}' }] }]);
  return value as Record<string, unknown>;
}

export function bytes(n?: string | number): string {
  const v = Number(n ?? 0);
  if (v < 1024) return `${v} B`;
  if (v < 1024 * 1024) return `${(v / 1024).toFixed(1)} KiB`;
  return `${(v / 1024 / 1024).toFixed(1)} MiB`;
}
