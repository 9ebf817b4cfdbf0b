"""gRPC handlers of the executor service: proto -> domain call -> proto. No SQL, no rules here."""

from google.protobuf import empty_pb2

from agentic.executor.v1 import executor_pb2 as pb
from agentic.executor.v1 import executor_pb2_grpc
from services.common import caller as callers
from services.common.errors import InvalidArgument, NotFound
from services.executor import convert
from services.executor.executions import Executions, StartRequest
from services.executor.nodes.base import CATEGORIES, registry
from services.executor.threads import Threads


def _start_request(request: pb.ExecuteRequest) -> StartRequest:
    return StartRequest(workflow_id=request.workflow_id, version=request.version,
                        input=convert.value_to_python(request.input, "input"), thread_id=request.thread_id,
                        request_id=request.request_id, timeout_seconds=request.timeout_seconds)


def _forwarded(context) -> list[tuple[str, str]]:
    """The caller's credentials and request id, for the workflow service."""
    return [(m.key, m.value) for m in context.invocation_metadata() or ()
            if m.key in ("authorization", "x-request-id")]


class ExecutionServicer(executor_pb2_grpc.ExecutionServiceServicer):
    def __init__(self, executions: Executions):
        self.executions = executions

    async def Execute(self, request, context):
        caller = callers.current()
        row, created, subscriber = await self.executions.start(caller, _forwarded(context), _start_request(request),
                                                               background=False, deadline=context.time_remaining())
        async for event in self.executions.stream(caller, str(row.id), 0, subscriber):
            yield convert.event(event)

    async def RunWorkflow(self, request, context):
        caller = callers.current()
        row, _, subscriber = await self.executions.start(caller, _forwarded(context), _start_request(request),
                                                         background=False, deadline=context.time_remaining())
        return convert.execution(await self.executions.wait(caller, row, subscriber))

    async def StartExecution(self, request, context):
        row, _, _ = await self.executions.start(callers.current(), _forwarded(context), _start_request(request),
                                                background=True)
        return convert.execution(row)

    async def GetExecution(self, request, context):
        return convert.execution(await self.executions.get(callers.current(), request.id))

    async def ListExecutions(self, request, context):
        status = convert.STATUS_NAME.get(request.status, "") if request.status else ""
        if request.status and not status:
            raise InvalidArgument("status", "unknown execution status")
        rows, token = await self.executions.list(
            callers.current(), request.page_size, request.page_token, request.workflow_id, status, request.thread_id,
            convert.optional_time(request, "created_after"), convert.optional_time(request, "created_before"))
        return pb.ListExecutionsResponse(executions=[convert.execution(r) for r in rows], next_page_token=token)

    async def GetUsage(self, request, context):
        row = await self.executions.usage(callers.current(), request.workflow_id,
                                          convert.optional_time(request, "created_after"),
                                          convert.optional_time(request, "created_before"))
        return pb.UsageSummary(executions=row.executions, input_tokens=row.input_tokens,
                               output_tokens=row.output_tokens)

    async def CancelExecution(self, request, context):
        return convert.execution(await self.executions.cancel(callers.current(), request.id))

    async def ResumeExecution(self, request, context):
        value = convert.value_to_python(request.value, "value")
        return convert.execution(await self.executions.resume(callers.current(), request.id, value))

    async def StreamExecution(self, request, context):
        async for event in self.executions.stream(callers.current(), request.execution_id, request.after_seq):
            yield convert.event(event)


class NodeCatalogServicer(executor_pb2_grpc.NodeCatalogServiceServicer):
    async def ListNodeTypes(self, request, context):
        if request.category and request.category not in CATEGORIES:
            raise InvalidArgument("category", f"must be one of {', '.join(CATEGORIES)}")
        kinds = sorted(registry().values(), key=lambda cls: (cls.category, cls.type))
        return pb.ListNodeTypesResponse(node_types=[convert.node_type(cls) for cls in kinds
                                                    if not request.category or cls.category == request.category])

    async def GetNodeType(self, request, context):
        cls = registry().get(request.type)
        if cls is None:
            raise NotFound("node type", request.type[:100])
        return convert.node_type(cls)


class ThreadServicer(executor_pb2_grpc.ThreadServiceServicer):
    def __init__(self, threads: Threads):
        self.threads = threads

    async def CreateThread(self, request, context):
        metadata = convert.struct_to_dict(request.thread.metadata, "thread.metadata")
        return convert.thread(await self.threads.create(callers.current(), metadata))

    async def GetThread(self, request, context):
        return convert.thread(await self.threads.get(callers.current(), request.id))

    async def ListThreads(self, request, context):
        rows, token = await self.threads.list(callers.current(), request.page_size, request.page_token)
        return pb.ListThreadsResponse(threads=[convert.thread(r) for r in rows], next_page_token=token)

    async def DeleteThread(self, request, context):
        await self.threads.delete(callers.current(), request.id)
        return empty_pb2.Empty()

    async def ListThreadMessages(self, request, context):
        rows, token = await self.threads.messages(callers.current(), request.thread_id, request.page_size,
                                                  request.page_token)
        return pb.ListThreadMessagesResponse(messages=[convert.thread_message(r) for r in rows], next_page_token=token)
