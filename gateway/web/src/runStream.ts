// Follows a run's events over SSE. A dropped connection is retried with Last-Event-ID = the last seq seen,
// so every event arrives exactly once; the stream ends at a terminal event or when the run pauses.
import { ApiError, call, readStream } from "./api";
import { Execution, ExecutionEvent, TERMINAL_EVENTS } from "./types";

export interface FollowHandlers {
  onEvent: (event: ExecutionEvent) => void;
  onConnection: (state: "live" | "reconnecting") => void;
}

const BACKOFF_MS = [250, 500, 1000, 2000];

export async function followExecution(executionId: string, afterSeq: number, handlers: FollowHandlers, signal: AbortSignal): Promise<number> {
  let lastSeq = afterSeq;
  let failures = 0;
  while (!signal.aborted) {
    let finished = false;
    try {
      await readStream(`/executions/${executionId}/events`, (sse) => {
        const event = JSON.parse(sse.data) as ExecutionEvent;
        if (sse.event === "error" || !event.seq || event.seq <= lastSeq) return;
        lastSeq = event.seq;
        failures = 0;
        handlers.onConnection("live");
        handlers.onEvent(event);
        if (TERMINAL_EVENTS.has(event.type) || event.type === "interrupt") finished = true;
      }, { signal, headers: lastSeq ? { "Last-Event-ID": String(lastSeq) } : {} });
      if (finished) return lastSeq;
      // The server closed the stream without a terminal event: ask the run where it is.
      const execution = await call<Execution>("GET", `/executions/${executionId}`, undefined, { signal });
      if (execution.last_seq <= lastSeq && !["EXECUTION_STATUS_QUEUED", "EXECUTION_STATUS_RUNNING"].includes(execution.status))
        return lastSeq;
    } catch (error) {
      if (signal.aborted) return lastSeq;
      // An HTTP error other than "unavailable" will not get better by retrying.
      if (error instanceof ApiError && error.httpStatus !== 0 && error.httpStatus < 500) throw error;
      handlers.onConnection("reconnecting");
      const wait = BACKOFF_MS[Math.min(failures++, BACKOFF_MS.length - 1)];
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }
  return lastSeq;
}
