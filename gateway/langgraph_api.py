"""A LangGraph Platform–compatible subset of the API under `/langgraph`, for the `langgraph-sdk` client.

A thin adapter: every route makes calls to our own gRPC services through the gateway's pooled channels with
the caller's credentials (a bearer token, or an API key as `x-api-key`), and maps their errors as the rest of
the gateway does. Vocabulary: an assistant is a workflow (`assistant_id` = `graph_id` = the workflow id), a
thread is an executor thread, a run is an execution.

Input and output mapping:
- Input `{"messages": [..., {"role": "user" | "type": "human", "content": "hi"}]}` (message style): the last
  user message's content is the run's input; a thread keeps the earlier turns on our side. Any other input
  (an object without messages, or null) is the run's input as it is.
- A message-style run's values are `{"messages": [...]}`: a thread run's whole history after the run (its new
  turn included), a stateless run's input messages plus the answer `{"type": "ai", "content": output}`. Any
  other run's values are `{"output": <the run's output>}`. A failed run's values are
  `{"__error__": {"error": code, "message": ...}}`, which the SDK's `runs.wait` raises.
- Stream modes: `values` (the final values), `updates` (`{node_id: output}` per completed node, and
  `{"__interrupt__": [...]}` when a run waits for a human answer), `messages-tuple` (`[chunk, metadata]` per
  token) and `messages` (`messages/metadata`, `messages/partial`, `messages/complete`). Other modes are accepted
  and send nothing. A failed or cancelled run ends with `event: error`; the stream then closes (no `end` event,
  as the LangGraph server). The run goes on when the client disconnects.
- `command={"resume": answer}` on a thread answers its latest run, which waits at a human approval node:
  ResumeExecution, then that run's new events (stream), its end (wait) or the run (create).
"""

import asyncio
import json
import logging
from dataclasses import dataclass

import grpc
from google.protobuf import json_format
from sse_starlette.sse import EventSourceResponse, ServerSentEvent
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from agentic.executor.v1 import executor_pb2 as ex
from agentic.workflow.v1 import workflow_pb2 as wf
from gateway import errors
from gateway.body import BodyTooLarge, parse_json, read_limited
from gateway.pages import NOSNIFF
from gateway.request_checks import EdgeRefusal, check_headers, check_json_content_type
from gateway.transcoder import RequestError
from services.common.protojson import struct_json, value_json
from services.common.validation import request_id_or_new

log = logging.getLogger("gateway.langgraph")

PREFIX = "/langgraph"
_EXECUTIONS = "/agentic.executor.v1.ExecutionService/"
_THREADS = "/agentic.executor.v1.ThreadService/"
_WORKFLOWS = "/agentic.workflow.v1.WorkflowService/"
STREAM_MODES = frozenset({"values", "messages", "updates", "events", "tasks", "checkpoints", "debug", "custom",
                          "messages-tuple", "tools", "lifecycle"})
# Run options whose meaning we cannot honour: refused, rather than silently running something else.
UNSUPPORTED_RUN_FIELDS = ("checkpoint", "checkpoint_id", "interrupt_before", "interrupt_after",
                          "webhook", "after_seconds")
RUN_STATUS = {ex.EXECUTION_STATUS_QUEUED: "pending", ex.EXECUTION_STATUS_RUNNING: "running",
              ex.EXECUTION_STATUS_INTERRUPTED: "interrupted", ex.EXECUTION_STATUS_SUCCEEDED: "success",
              ex.EXECUTION_STATUS_FAILED: "error", ex.EXECUTION_STATUS_CANCELLED: "interrupted"}
THREAD_STATUS = {"pending": "busy", "running": "busy", "interrupted": "interrupted", "error": "error"}
ENDED = (ex.EXECUTION_STATUS_SUCCEEDED, ex.EXECUTION_STATUS_FAILED, ex.EXECUTION_STATUS_CANCELLED)
MAX_SEARCH = 1000
MESSAGES_PAGE = 1000


class Invalid(Exception):
    """A body field the SDK sent is wrong or unsupported: 422, as the LangGraph server answers."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


# --- shapes ---------------------------------------------------------------------------------------------

def _time(ts) -> str | None:
    return ts.ToJsonString() if ts.seconds or ts.nanos else None


def _value(message, name: str):
    return value_json(getattr(message, name), integers=True) if message.HasField(name) else None


def assistant(w: wf.Workflow) -> dict:
    return {"assistant_id": w.id, "graph_id": w.id, "name": w.name, "description": w.description or None,
            "config": {}, "context": {}, "metadata": {}, "version": w.version,
            "created_at": _time(w.create_time), "updated_at": _time(w.update_time)}


def run(e: ex.Execution) -> dict:
    status = RUN_STATUS.get(e.status, "pending")
    if e.status == ex.EXECUTION_STATUS_FAILED and e.error.code == "RUN_TIMEOUT":
        status = "timeout"
    return {"run_id": e.id, "thread_id": e.thread_id or None, "assistant_id": e.workflow_id,
            "created_at": _time(e.create_time),
            "updated_at": _time(e.end_time) or _time(e.start_time) or _time(e.create_time),
            "status": status, "metadata": {}, "multitask_strategy": "reject",
            "kwargs": {"input": _value(e, "input")}}


def thread(t: ex.Thread, status: str = "idle", values: dict | None = None) -> dict:
    return {"thread_id": t.id, "created_at": _time(t.create_time), "updated_at": _time(t.update_time),
            "metadata": struct_json(t.metadata, integers=True), "status": status, "values": values,
            "interrupts": {}}


def _text(content) -> str:
    """A message's content: a string, or LangChain content blocks whose text parts are joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(b if isinstance(b, str) else str(b.get("text", "")) for b in content
                       if isinstance(b, str) or (isinstance(b, dict) and b.get("type") == "text"))
    raise Invalid("input.messages", "a message's content must be a string or a list of content blocks")


def _message(raw) -> dict:
    """A LangGraph input message ({role|type, content}, or a (role, content) pair) as {type, content}."""
    if isinstance(raw, str):
        return {"type": "human", "content": raw}
    if isinstance(raw, list | tuple) and len(raw) == 2:
        role, content = raw
    elif isinstance(raw, dict):
        role, content = raw.get("role") or raw.get("type"), raw.get("content", "")
    else:
        raise Invalid("input.messages", "each message must be an object with role (or type) and content")
    kind = {"user": "human", "human": "human", "assistant": "ai", "ai": "ai", "system": "system",
            "tool": "tool"}.get(role)
    if kind is None:
        raise Invalid("input.messages", f"unknown message role {role!r}: use user, assistant, system or tool")
    return {"type": kind, "content": _text(content)}


def run_input(value) -> tuple[object, list[dict]]:
    """(our run's input, the input's messages: empty unless message style)."""
    if not isinstance(value, dict) or "messages" not in value:
        if isinstance(value, str):  # not LangGraph's shape, but plainly a user's message
            return value, [_message(value)]
        return value, []
    raw = value["messages"]
    messages = [_message(m) for m in (raw if isinstance(raw, list) else [raw])]
    for m in reversed(messages):
        if m["type"] == "human":
            return m["content"], messages
    raise Invalid("input.messages", "the messages have no user message to run")


def _answer(output) -> dict:
    return {"type": "ai", "content": output if isinstance(output, str) else json.dumps(output)}


def _error(code: str, message: str) -> dict:
    return {"error": code or "ERROR", "message": message}


# --- request bodies -------------------------------------------------------------------------------------

def _object(body, what: str) -> dict:
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise Invalid("", f"the {what} body must be a JSON object")
    return body


def _int(body: dict, name: str, default: int, low: int, high: int) -> int:
    value = body.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise Invalid(name, f"{name} must be an integer from {low} to {high}")
    return value


NO_RESUME = object()


@dataclass
class RunRequest:
    assistant_id: str
    input: object
    messages: list[dict]  # the input's messages (message style), else empty
    stream_modes: tuple[str, ...]
    resume: object = NO_RESUME  # command.resume: the answer for the thread's run that waits for one


def run_request(body) -> RunRequest:
    body = _object(body, "run")
    assistant_id = body.get("assistant_id")
    if not isinstance(assistant_id, str) or not assistant_id:
        raise Invalid("assistant_id", "assistant_id is required: the id of a workflow (search assistants)")
    for name in UNSUPPORTED_RUN_FIELDS:
        if body.get(name) is not None:
            raise Invalid(name, f"{name} is not supported by this server")
    modes = body.get("stream_mode", "values")
    modes = [modes] if isinstance(modes, str) else modes
    if not isinstance(modes, list) or not all(isinstance(m, str) and m in STREAM_MODES for m in modes):
        raise Invalid("stream_mode", f"stream_mode must be one or a list of {', '.join(sorted(STREAM_MODES))}")
    command = body.get("command")
    if command is not None:
        if not isinstance(command, dict) or set(command) != {"resume"}:
            raise Invalid("command", "only command.resume is supported (the answer for the thread's waiting run)")
        if body.get("input") is not None:
            raise Invalid("input", "send either input or command.resume, not both")
        return RunRequest(assistant_id, None, [], tuple(modes), command["resume"])
    value, messages = run_input(body.get("input"))
    return RunRequest(assistant_id, value, messages, tuple(modes))


def _parse(field: str, data: dict, message):
    """JSON into a request message; a value protobuf cannot hold (a number past a double's range) is a 422."""
    try:
        return json_format.ParseDict(data, message)
    except (json_format.ParseError, TypeError, ValueError, OverflowError) as exc:
        raise Invalid(field, f"{field} cannot be sent: {exc}") from None


def execute_request(req: RunRequest, thread_id: str) -> ex.ExecuteRequest:
    return _parse("input", {"workflow_id": req.assistant_id, "thread_id": thread_id, "input": req.input},
                  ex.ExecuteRequest())


# --- the adapter ----------------------------------------------------------------------------------------

class Call:
    """One HTTP request's downstream calls: its credentials as metadata, its reply headers."""

    def __init__(self, api: "LangGraphApi", request: Request, request_id: str):
        self.api, self.request = api, request
        self.headers = {"x-request-id": request_id, **NOSNIFF}
        self.request_id = request_id
        self.metadata: list[tuple[str, str]] = []

    async def rpc(self, method: str, message, timeout: float | None = None):
        call = self.api.state["downstream"].calls[method]
        return await call(message, metadata=self.metadata,
                          timeout=timeout or self.api.settings.request_timeout_seconds)

    def stream(self, method: str, message):
        return self.api.state["downstream"].calls[method](message, metadata=self.metadata)

    async def body(self):
        raw = await read_limited(self.request, self.api.settings.max_body_bytes)
        if not raw.strip():
            return None
        check_json_content_type(self.request.headers.get("content-type"))
        return parse_json(raw, self.api.settings.max_json_depth)

    def json(self, value, status: int = 200, headers: dict | None = None) -> Response:
        return Response(json.dumps(value, ensure_ascii=False).encode(), status_code=status,
                        media_type="application/json", headers={**self.headers, **(headers or {})})

    # Reads shared by several routes.

    async def thread_messages(self, thread_id: str) -> list[dict]:
        """The thread's whole history, oldest first, as LangGraph messages."""
        messages, token = [], ""
        while True:
            page = await self.rpc(_THREADS + "ListThreadMessages", ex.ListThreadMessagesRequest(
                thread_id=thread_id, page_size=MESSAGES_PAGE, page_token=token))
            messages += [{"type": "human" if m.role == "user" else "ai", "content": m.content}
                         for m in page.messages]
            token = page.next_page_token
            if not token:
                return messages

    async def values(self, execution: ex.Execution, input_messages: list[dict]) -> dict:
        """The values of a finished (or interrupted) run: see the module docstring."""
        if execution.status == ex.EXECUTION_STATUS_FAILED:
            return {"__error__": _error(execution.error.code, execution.error.message)}
        output = _value(execution, "output")
        if execution.input.WhichOneof("kind") != "string_value":
            return {"output": output}
        if execution.thread_id:
            return {"messages": await self.thread_messages(execution.thread_id)}
        return {"messages": [*input_messages, _answer(output)]}

    async def execution_of_thread(self, thread_id: str, run_id: str) -> ex.Execution:
        execution = await self.rpc(_EXECUTIONS + "GetExecution", ex.GetExecutionRequest(id=run_id))
        if execution.thread_id != thread_id:
            raise _NotInThread(run_id, thread_id)
        return execution

    async def until_ended(self, execution: ex.Execution) -> ex.Execution:
        """The execution once it has ended or waits for an answer: its events are tailed until then."""
        if execution.status in ENDED or execution.status == ex.EXECUTION_STATUS_INTERRUPTED:
            return execution
        events = self.stream(_EXECUTIONS + "StreamExecution", ex.StreamExecutionRequest(
            execution_id=execution.id, after_seq=execution.last_seq))
        try:
            async with asyncio.timeout(self.api.settings.max_request_timeout_seconds):
                async for _ in events:
                    pass
        finally:
            events.cancel()
        return await self.rpc(_EXECUTIONS + "GetExecution", ex.GetExecutionRequest(id=execution.id))


class _NotInThread(Exception):
    def __init__(self, run_id: str, thread_id: str):
        super().__init__(f"run {run_id} not found in thread {thread_id}")


class LangGraphApi:
    def __init__(self, settings, state: dict, metadata_for):
        self.settings, self.state, self.metadata_for = settings, state, metadata_for

    def route(self, path: str, method: str, handler) -> Route:
        async def handle(request: Request) -> Response:
            call = Call(self, request, request_id_or_new(request.headers.get("x-request-id", "")))
            try:
                check_headers(request.scope, self.settings)
                call.metadata = await self.metadata_for(request, call.request_id, False)
                return await handler(call, **request.path_params)
            except Invalid as exc:
                return errors.bad_request(422, str(exc), exc.field, call.headers)
            except RequestError as exc:
                return errors.bad_request(400, str(exc), exc.field, call.headers)
            except EdgeRefusal as exc:
                return errors.bad_request(exc.http_status, str(exc), exc.field, call.headers)
            except BodyTooLarge:
                return errors.error_response(413, "INVALID_ARGUMENT", f"request body larger than "
                                             f"{self.settings.max_body_bytes} bytes", None, call.headers)
            except _NotInThread as exc:
                return errors.error_response(404, "NOT_FOUND", str(exc), None, call.headers)
            except TimeoutError:
                return errors.error_response(504, "DEADLINE_EXCEEDED", "the run did not end in time; join it "
                                             "again", None, call.headers)
            except grpc.aio.AioRpcError as exc:
                api_key = request.headers.get("x-api-key")
                if exc.code() == grpc.StatusCode.UNAUTHENTICATED and api_key and not request.headers.get(
                        "authorization"):
                    self.state["api_keys"].forget(api_key.strip())  # a revoked key's cached token
                return errors.from_rpc_error(exc, call.headers)
            except Exception:
                log.exception("unexpected error on %s %s request_id=%s", method, path, call.request_id)
                return errors.error_response(500, "INTERNAL", "internal error", None, call.headers)

        handle.__name__ = handler.__name__
        return Route(PREFIX + path, handle, methods=[method])

    def routes(self) -> list[Route]:
        return [
            self.route("/assistants/search", "POST", search_assistants),
            self.route("/assistants/{assistant_id}", "GET", get_assistant),
            self.route("/threads", "POST", create_thread),
            self.route("/threads/{thread_id}", "GET", get_thread),
            self.route("/threads/{thread_id}", "DELETE", delete_thread),
            self.route("/threads/{thread_id}/state", "GET", thread_state),
            self.route("/threads/{thread_id}/runs/stream", "POST", stream_run),
            self.route("/runs/stream", "POST", stream_run),
            self.route("/threads/{thread_id}/runs/wait", "POST", wait_run),
            self.route("/runs/wait", "POST", wait_run),
            self.route("/threads/{thread_id}/runs", "POST", create_run),
            self.route("/runs", "POST", create_run),
            self.route("/threads/{thread_id}/runs/{run_id}", "GET", get_run),
            self.route("/threads/{thread_id}/runs/{run_id}/cancel", "POST", cancel_run),
            self.route("/threads/{thread_id}/runs/{run_id}/join", "GET", join_run),
        ]


def routes(settings, state: dict, metadata_for) -> list[Route]:
    """The `/langgraph` routes; `state` holds the app's Downstream and ApiKeyExchange (made in its lifespan)."""
    return LangGraphApi(settings, state, metadata_for).routes()


# --- assistants -----------------------------------------------------------------------------------------

async def search_assistants(call: Call) -> Response:
    body = _object(await call.body(), "search")
    limit = _int(body, "limit", 10, 1, MAX_SEARCH)
    offset = _int(body, "offset", 0, 0, 100_000)
    name = body.get("name") or ""
    if not isinstance(name, str):
        raise Invalid("name", "name must be a string")
    if body.get("metadata"):  # assistants carry no metadata: an exact-match filter matches none
        return call.json([])
    graph_id = body.get("graph_id")
    if graph_id:  # the graph id is the workflow id: at most one assistant
        try:
            found = await call.rpc(_WORKFLOWS + "GetWorkflow", wf.GetWorkflowRequest(id=str(graph_id)))
        except grpc.aio.AioRpcError as exc:
            if exc.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                return call.json([])
            raise
        matches = [found] if name.lower() in found.name.lower() else []
        return call.json([assistant(w) for w in matches[offset:offset + limit]])
    found, token = [], ""
    while len(found) < offset + limit + 1:
        page = await call.rpc(_WORKFLOWS + "ListWorkflows", wf.ListWorkflowsRequest(
            page_size=min(offset + limit + 1 - len(found), MAX_SEARCH), page_token=token, query=name))
        found += page.workflows
        token = page.next_page_token
        if not token:
            break
    more = len(found) > offset + limit
    headers = {"X-Pagination-Next": str(offset + limit)} if more else {}
    return call.json([assistant(w) for w in found[offset:offset + limit]], headers=headers)


async def get_assistant(call: Call, assistant_id: str) -> Response:
    return call.json(assistant(await call.rpc(_WORKFLOWS + "GetWorkflow", wf.GetWorkflowRequest(id=assistant_id))))


# --- threads --------------------------------------------------------------------------------------------

async def create_thread(call: Call) -> Response:
    body = _object(await call.body(), "thread")
    for name in ("thread_id", "supersteps"):
        if body.get(name):
            raise Invalid(name, f"{name} is not supported by this server (it assigns thread ids)")
    metadata = body.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise Invalid("metadata", "metadata must be a JSON object")
    request = _parse("metadata", {"thread": {"metadata": metadata}}, ex.CreateThreadRequest())
    return call.json(thread(await call.rpc(_THREADS + "CreateThread", request)))


async def get_thread(call: Call, thread_id: str) -> Response:
    found = await call.rpc(_THREADS + "GetThread", ex.GetThreadRequest(id=thread_id))
    latest = await call.rpc(_EXECUTIONS + "ListExecutions", ex.ListExecutionsRequest(thread_id=thread_id,
                                                                                      page_size=1))
    status = "idle"
    if latest.executions:
        status = THREAD_STATUS.get(run(latest.executions[0])["status"], "idle")
    values = {"messages": await call.thread_messages(thread_id)} if found.message_count else None
    return call.json(thread(found, status, values))


async def delete_thread(call: Call, thread_id: str) -> Response:
    await call.rpc(_THREADS + "DeleteThread", ex.DeleteThreadRequest(id=thread_id))
    return Response(status_code=204, headers=call.headers)


async def thread_state(call: Call, thread_id: str) -> Response:
    found = await call.rpc(_THREADS + "GetThread", ex.GetThreadRequest(id=thread_id))
    return call.json({"values": {"messages": await call.thread_messages(thread_id)}, "next": [], "tasks": [],
                      "checkpoint": {"thread_id": thread_id, "checkpoint_ns": "", "checkpoint_id": None},
                      "metadata": struct_json(found.metadata, integers=True), "created_at": _time(found.update_time),
                      "parent_checkpoint": None, "interrupts": []})


# --- runs -----------------------------------------------------------------------------------------------

def _location(execution_id: str, thread_id: str) -> dict:
    """Content-Location names the run: the SDK's on_run_created callback reads it."""
    path = f"{PREFIX}/threads/{thread_id}/runs/{execution_id}" if thread_id else f"{PREFIX}/runs/{execution_id}"
    return {"Content-Location": path}


async def resume(call: Call, req: RunRequest, thread_id: str) -> tuple[RunRequest, ex.Execution, int]:
    """command.resume: the answer goes to the thread's latest run, which must be waiting for one (a human
    approval node). Returns the request as that run's (its input decides the values' style), the resumed run
    and the seq after which its new events come."""
    if not thread_id:
        raise Invalid("command", "command.resume needs a thread: it answers the thread's waiting run")
    latest = await call.rpc(_EXECUTIONS + "ListExecutions", ex.ListExecutionsRequest(thread_id=thread_id,
                                                                                      page_size=1))
    waiting = latest.executions[0] if latest.executions else None
    if waiting is not None:  # the run itself, with the seq of its last event (a listing leaves it out)
        waiting = await call.rpc(_EXECUTIONS + "GetExecution", ex.GetExecutionRequest(id=waiting.id))
    if waiting is None or waiting.status != ex.EXECUTION_STATUS_INTERRUPTED:
        raise Invalid("command", "no run of this thread waits for an answer")
    if waiting.workflow_id != req.assistant_id:
        raise Invalid("assistant_id", f"the thread's waiting run is of assistant {waiting.workflow_id}")
    answer = _parse("command.resume", {"id": waiting.id, "value": req.resume}, ex.ResumeExecutionRequest())
    execution = await call.rpc(_EXECUTIONS + "ResumeExecution", answer)
    original = RunRequest(req.assistant_id, _value(waiting, "input"), [], req.stream_modes)
    return original, execution, waiting.last_seq


async def wait_run(call: Call, thread_id: str = "") -> Response:
    req = run_request(await call.body())
    if req.resume is not NO_RESUME:
        req, execution, _ = await resume(call, req, thread_id)
        execution = await call.until_ended(execution)
        return call.json(await call.values(execution, []), headers=_location(execution.id, thread_id))
    execution = await call.rpc(_EXECUTIONS + "RunWorkflow", execute_request(req, thread_id),
                               timeout=call.api.settings.max_request_timeout_seconds)
    return call.json(await call.values(execution, req.messages), headers=_location(execution.id, thread_id))


async def create_run(call: Call, thread_id: str = "") -> Response:
    req = run_request(await call.body())
    if req.resume is not NO_RESUME:
        _, execution, _ = await resume(call, req, thread_id)
        return call.json(run(execution), headers=_location(execution.id, thread_id))
    execution = await call.rpc(_EXECUTIONS + "StartExecution", execute_request(req, thread_id))
    return call.json(run(execution), headers=_location(execution.id, thread_id))


async def get_run(call: Call, thread_id: str, run_id: str) -> Response:
    return call.json(run(await call.execution_of_thread(thread_id, run_id)))


async def join_run(call: Call, thread_id: str, run_id: str) -> Response:
    execution = await call.until_ended(await call.execution_of_thread(thread_id, run_id))
    return call.json(await call.values(execution, []))


async def cancel_run(call: Call, thread_id: str, run_id: str) -> Response:
    if call.request.query_params.get("action", "interrupt") != "interrupt":
        raise Invalid("action", "only action=interrupt is supported (a run is never rolled back)")
    await call.execution_of_thread(thread_id, run_id)
    execution = await call.rpc(_EXECUTIONS + "CancelExecution", ex.CancelExecutionRequest(id=run_id))
    if call.request.query_params.get("wait") in ("1", "true"):
        await call.until_ended(execution)
    return Response(status_code=202, headers=call.headers)


async def stream_run(call: Call, thread_id: str = "") -> Response:
    req = run_request(await call.body())
    if req.resume is not NO_RESUME:  # the resumed run's events from where it stopped
        req, execution, after = await resume(call, req, thread_id)
        events = call.stream(_EXECUTIONS + "StreamExecution",
                             ex.StreamExecutionRequest(execution_id=execution.id, after_seq=after))
    else:
        events = call.stream(_EXECUTIONS + "Execute", execute_request(req, thread_id))
    first = await events.read()  # errors before the run starts are plain JSON errors
    if first is grpc.aio.EOF:
        return errors.error_response(500, "INTERNAL", "internal error", None, call.headers)
    stream = RunStream(call, req, first.execution_id, thread_id)

    async def sse():
        item = first
        try:
            yield ServerSentEvent(data=json.dumps({"run_id": first.execution_id, "attempt": 1}), event="metadata")
            while item is not grpc.aio.EOF:
                async for event in stream.translate(item):
                    yield event
                item = await events.read()
        except grpc.aio.AioRpcError as exc:
            body = json.loads(errors.from_rpc_error(exc).body)
            yield ServerSentEvent(data=json.dumps(_error(body["status"], body["message"])), event="error")
        finally:
            events.cancel()

    return EventSourceResponse(sse(), headers={**call.headers, **_location(first.execution_id, thread_id)},
                               ping=call.api.settings.sse_heartbeat_seconds)


class RunStream:
    """Our execution events as LangGraph stream parts, for the stream modes asked for."""

    def __init__(self, call: Call, req: RunRequest, execution_id: str, thread_id: str):
        self.call, self.req, self.modes = call, req, set(req.stream_modes)
        self.execution_id, self.thread_id = execution_id, thread_id
        self.partial: dict[str, str] = {}  # node id -> the text of its message so far ("messages" mode)

    def _message_id(self, node_id: str) -> str:
        return f"run-{self.execution_id}-{node_id}"

    @staticmethod
    def _part(event: str, data) -> ServerSentEvent:
        return ServerSentEvent(data=json.dumps(data, ensure_ascii=False), event=event)

    async def translate(self, item: ex.ExecutionEvent):
        payload = struct_json(item.payload, integers=True)
        node = item.node_id
        if item.type == "token":
            text = str(payload.get("text", ""))
            if "messages-tuple" in self.modes:
                yield self._part("messages", [
                    {"type": "AIMessageChunk", "content": text, "id": self._message_id(node)},
                    {"langgraph_node": node, "run_id": self.execution_id}])
            if "messages" in self.modes:
                if node not in self.partial:
                    yield self._part("messages/metadata", {self._message_id(node): {"metadata": {
                        "langgraph_node": node, "run_id": self.execution_id}}})
                self.partial[node] = self.partial.get(node, "") + text
                yield self._part("messages/partial", [{"type": "ai", "content": self.partial[node],
                                                       "id": self._message_id(node)}])
        elif item.type == "node_completed":
            if "messages" in self.modes and node in self.partial:
                yield self._part("messages/complete", [{"type": "ai", "content": self.partial.pop(node),
                                                        "id": self._message_id(node)}])
            if "updates" in self.modes:
                yield self._part("updates", {node: payload.get("output")})
        elif item.type == "interrupt":
            interrupts = [{"value": payload, "id": node}]
            if "updates" in self.modes:
                yield self._part("updates", {"__interrupt__": interrupts})
            if "values" in self.modes:
                yield self._part("values", {"__interrupt__": interrupts})
        elif item.type == "run_completed":
            if "values" in self.modes:
                execution = ex.Execution(id=self.execution_id, thread_id=self.thread_id,
                                         status=ex.EXECUTION_STATUS_SUCCEEDED)
                json_format.ParseDict({"input": self.req.input, "output": payload.get("output")}, execution)
                yield self._part("values", await self.call.values(execution, self.req.messages))
        elif item.type == "run_failed":
            error = payload.get("error") or {}
            yield self._part("error", _error(error.get("code", ""), error.get("message", "the run failed")))
        elif item.type == "run_cancelled":
            yield self._part("error", _error("CANCELLED", "the run was cancelled"))
