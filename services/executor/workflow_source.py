"""Reads the workflow (version) a run is pinned to from the workflow service, as the caller.

The caller's own token goes along, so the workflow service applies its tenancy and role rules; the request id
and the remaining deadline go along too.
"""

import grpc

from agentic.workflow.v1 import workflow_pb2, workflow_pb2_grpc
from services.common.errors import InvalidArgument, NotFound, PermissionDenied, Unavailable
from services.common.protojson import struct_dict


class WorkflowSource:
    def __init__(self, channel: grpc.aio.Channel):
        self._stub = workflow_pb2_grpc.WorkflowServiceStub(channel)

    async def fetch(self, metadata, workflow_id: str, version: int, timeout: float,
                    known_version: int = 0) -> tuple[int, dict | None]:
        """(version, flow_data) of the workflow's `version`, or of its current version when 0. flow_data is None
        when the current version is `known_version` (the caller holds that graph)."""
        try:
            if version:
                reply = await self._stub.GetWorkflowVersion(
                    workflow_pb2.GetWorkflowVersionRequest(workflow_id=workflow_id, version=version),
                    metadata=metadata, timeout=timeout)
            else:
                reply = await self._stub.GetWorkflow(
                    workflow_pb2.GetWorkflowRequest(id=workflow_id, known_version=known_version),
                    metadata=metadata, timeout=timeout)
                if known_version and reply.version == known_version and not reply.HasField("flow_data"):
                    return reply.version, None
        except grpc.aio.AioRpcError as exc:
            code = exc.code()
            if code == grpc.StatusCode.NOT_FOUND:
                raise NotFound("workflow version" if version else "workflow",
                               f"{workflow_id}@{version}" if version else workflow_id) from None
            if code == grpc.StatusCode.PERMISSION_DENIED:
                raise PermissionDenied("you cannot read this workflow") from None
            if code == grpc.StatusCode.INVALID_ARGUMENT:
                raise InvalidArgument("workflow_id", "must be the id of a workflow") from None
            raise Unavailable(f"the workflow service did not answer ({code.name}); try again") from None
        return reply.version, struct_dict(reply.flow_data)
