// The console's only way to the platform: the public REST/SSE API under /api/v1, with the session kept in
// localStorage and refreshed a minute before the access token expires.
import { SseEvent, SseParser } from "./sse";

export interface FieldViolation {
  field: string;
  description: string;
}

/** The gateway's error body {code, status, message, details}, with the field violations pulled out. */
export class ApiError extends Error {
  constructor(
    readonly httpStatus: number,
    readonly status: string,
    message: string,
    readonly details: Array<Record<string, unknown>> = [],
  ) {
    super(message);
  }

  get violations(): FieldViolation[] {
    const out: FieldViolation[] = [];
    for (const d of this.details) {
      for (const v of (d.field_violations as FieldViolation[] | undefined) ?? []) out.push(v);
      // PreconditionFailure (a run refused because of the graph): {type, subject, description}.
      for (const v of (d.violations as Array<{ subject?: string; description?: string }> | undefined) ?? [])
        out.push({ field: v.subject ?? "", description: v.description ?? "" });
    }
    return out;
  }

  /** The violation for a field: exact name or the last path segment ("workflow.name" matches "name"). */
  fieldError(field: string): string | undefined {
    return this.violations.find((v) => v.field === field || v.field.endsWith(`.${field}`))?.description;
  }
}

export interface User {
  id: string;
  email: string;
  display_name: string;
}

export interface Session {
  access_token: string;
  refresh_token: string;
  expires_at: number; // ms since epoch
  user: User;
  organization_id: string;
  role: string;
}

const STORAGE_KEY = "agentic.session";
const listeners = new Set<() => void>();
let session: Session | null = load();
let refreshTimer: ReturnType<typeof setTimeout> | undefined;
let refreshing: Promise<void> | null = null;

function load(): Session | null {
  try {
    const raw = localStorage.getItem(STORAGE_KEY);
    return raw ? (JSON.parse(raw) as Session) : null;
  } catch {
    return null;
  }
}

export function getSession(): Session | null {
  return session;
}

export function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

function setSession(next: Session | null) {
  session = next;
  if (next) localStorage.setItem(STORAGE_KEY, JSON.stringify(next));
  else localStorage.removeItem(STORAGE_KEY);
  scheduleRefresh();
  listeners.forEach((l) => l());
}

interface SessionReply {
  access_token: string;
  refresh_token: string;
  expires_in: number;
  user: User;
  organization_id: string;
  role: string;
}

function adopt(reply: SessionReply) {
  setSession({
    access_token: reply.access_token,
    refresh_token: reply.refresh_token,
    expires_at: Date.now() + reply.expires_in * 1000,
    user: reply.user,
    organization_id: reply.organization_id,
    role: reply.role,
  });
}

/** Refresh a minute before expiry (or at 80 % of a short lifetime), with a little jitter so that several
 * tabs do not all spend the (single-use) refresh token at once. */
function scheduleRefresh() {
  clearTimeout(refreshTimer);
  if (!session) return;
  const left = session.expires_at - Date.now();
  const delay = Math.max(0, Math.min(left - 60_000, left * 0.8)) + Math.random() * Math.min(5_000, left * 0.05);
  refreshTimer = setTimeout(() => void refresh().catch((error) => {
    // Unreachable server: try again shortly; refused (expired, revoked): the session is over.
    if (error instanceof ApiError && (error.httpStatus === 0 || error.httpStatus >= 500)) refreshTimer = setTimeout(scheduleRefresh, 10_000);
    else setSession(null);
  }), delay);
}

/** Runs `fn` while no other tab runs it (Web Locks; where the browser has none, just runs it). */
function exclusive<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const locks = (navigator as Navigator & { locks?: LockManager }).locks;
  return locks ? (locks.request(name, fn) as Promise<T>) : fn();
}

/** The session another tab stored, when it differs from ours (it refreshed or signed out first). */
function storedByAnotherTab(): Session | null | undefined {
  const stored = load();
  return stored?.refresh_token === session?.refresh_token ? undefined : stored;
}

// Tabs share one session: adopt whatever another tab stores (a refresh, a sign-in, a sign-out).
window.addEventListener("storage", (e) => {
  if (e.key !== STORAGE_KEY) return;
  session = load();
  scheduleRefresh();
  listeners.forEach((l) => l());
});

export function refresh(): Promise<void> {
  if (!refreshing) {
    // One tab at a time: the refresh token is single use, and the tab that waited adopts what the first stored.
    refreshing = exclusive("agentic.refresh", async () => {
      const other = storedByAnotherTab();
      if (other !== undefined) return setSession(other);
      if (!session) throw new ApiError(401, "UNAUTHENTICATED", "signed out");
      try {
        adopt(await call<SessionReply>("POST", "/auth/refresh", { refresh_token: session.refresh_token }, { anonymous: true }));
      } catch (error) {
        // Without Web Locks another tab may have spent the token a moment ago (409: a concurrent refresh):
        // its session, stored as soon as its answer arrives, is as good as ours.
        for (let waited = 0; error instanceof ApiError && error.httpStatus === 409 && waited < 2_000; waited += 100) {
          if (storedByAnotherTab()) break;
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
        const newer = storedByAnotherTab();
        if (newer) return setSession(newer);
        throw error;
      }
    }).finally(() => (refreshing = null));
  }
  return refreshing;
}

export async function signIn(email: string, password: string) {
  adopt(await call<SessionReply>("POST", "/auth/signin", { email, password }, { anonymous: true }));
}

export async function signUp(email: string, password: string, display_name: string) {
  adopt(await call<SessionReply>("POST", "/auth/signup", { email, password, display_name }, { anonymous: true }));
}

export async function switchOrganization(organization_id: string) {
  adopt(await call<SessionReply>("POST", "/auth/session:switchOrganization", { organization_id }));
}

export async function signOut() {
  try {
    await call("POST", "/auth/signout", {});
  } finally {
    setSession(null);
  }
}

if (session) {
  // A stored session past its expiry is refreshed at once (and dropped if that fails).
  scheduleRefresh();
}

interface CallOptions {
  anonymous?: boolean;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

/** The error of an answer's status and body (the gateway's JSON, or whatever a proxy answered). */
export function errorOf(httpStatus: number, text: string, statusText = ""): ApiError {
  try {
    const body = JSON.parse(text) as { status?: string; message?: string; details?: Array<Record<string, unknown>> };
    return new ApiError(httpStatus, body.status ?? "UNKNOWN", body.message ?? text, body.details ?? []);
  } catch {
    return new ApiError(httpStatus, "UNKNOWN", text || statusText);
  }
}

async function toError(response: Response): Promise<ApiError> {
  return errorOf(response.status, await response.text(), response.statusText);
}

function authHeaders(options: CallOptions): Record<string, string> {
  const headers: Record<string, string> = { ...options.headers };
  if (!options.anonymous && session) headers.Authorization = `Bearer ${session.access_token}`;
  return headers;
}

async function send(method: string, path: string, body: unknown, options: CallOptions): Promise<Response> {
  const headers = authHeaders(options);
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response: Response;
  try {
    response = await fetch(`/api/v1${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: options.signal,
      // Never the browser's HTTP cache: it revalidates with If-None-Match, and an etag can stay the same while
      // what the answer shows changes (a collection's document counts).
      cache: "no-store",
    });
  } catch (error) {
    if ((error as Error).name === "AbortError") throw error;
    throw new ApiError(0, "UNAVAILABLE", "cannot reach the server; check your connection");
  }
  return response;
}

/** One API call; a 401 with a session refreshes once and retries. */
export async function call<T = unknown>(method: string, path: string, body?: unknown, options: CallOptions = {}): Promise<T> {
  let response = await send(method, path, body, options);
  if (response.status === 401 && !options.anonymous && session) {
    try {
      await refresh();
    } catch {
      setSession(null);
      throw await toError(response);
    }
    response = await send(method, path, body, options);
  }
  if (!response.ok) throw await toError(response);
  const text = await response.text();
  return (text ? JSON.parse(text) : {}) as T;
}

/** Reads an SSE response until it ends; throws ApiError for an HTTP error, TypeError for a dropped link. */
export async function readStream(path: string, onEvent: (e: SseEvent) => void, options: CallOptions & { method?: string; body?: unknown } = {}) {
  let response = await send(options.method ?? "GET", path, options.body, options);
  if (response.status === 401 && session) {
    await refresh();
    response = await send(options.method ?? "GET", path, options.body, options);
  }
  if (!response.ok || !response.body) throw await toError(response);
  const parser = new SseParser();
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    for (const event of parser.feed(value)) onEvent(event);
  }
}

/** Query string from the set values of an object. */
export function query(params: Record<string, string | number | boolean | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== "" && v !== false) q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : "";
}

/** One XMLHttpRequest POST of a form (fetch cannot report upload progress); `onProgress` gets 0..1. */
function post(path: string, form: FormData, onProgress: (done: number) => void, signal?: AbortSignal): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `/api/v1${path}`);
    for (const [k, v] of Object.entries(authHeaders({}))) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
    xhr.onload = () => resolve({ status: xhr.status, text: xhr.responseText });
    xhr.onerror = () => reject(new ApiError(0, "UNAVAILABLE", "cannot reach the server; check your connection"));
    xhr.onabort = () => reject(new DOMException("upload cancelled", "AbortError"));
    signal?.addEventListener("abort", () => xhr.abort());
    xhr.send(form);
  });
}

/** Uploads a multipart form with progress; a 401 refreshes once and sends it again. */
export async function upload<T = unknown>(path: string, form: FormData, onProgress: (done: number) => void, signal?: AbortSignal): Promise<T> {
  let reply = await post(path, form, onProgress, signal);
  if (reply.status === 401 && session) {
    await refresh();
    reply = await post(path, form, onProgress, signal);
  }
  if (reply.status < 200 || reply.status >= 300) throw errorOf(reply.status, reply.text);
  return JSON.parse(reply.text) as T;
}
