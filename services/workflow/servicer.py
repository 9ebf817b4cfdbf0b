"""gRPC handlers of the workflow service: proto -> domain call -> proto. No SQL, no rules here."""

from google.protobuf import empty_pb2

from agentic.workflow.v1 import workflow_pb2 as pb
from agentic.workflow.v1 import workflow_pb2_grpc
from services.common import caller as callers
from services.workflow import convert
from services.workflow.documents import Documents
from services.workflow.templates import Templates
from services.workflow.workflows import UPDATABLE, Workflows


class WorkflowServicer(workflow_pb2_grpc.WorkflowServiceServicer):
    def __init__(self, workflows: Workflows, documents: Documents):
        self.workflows, self.documents = workflows, documents

    async def CreateWorkflow(self, request, context):
        w = request.workflow
        row, warnings = await self.workflows.create(
            callers.current(), name=w.name, description=w.description, tags=list(w.tags), is_public=w.is_public,
            flow=convert.struct_to_dict(w.flow_data, "workflow.flow_data"), request_id=request.request_id, message=request.version_message)
        return convert.workflow(row, warnings)

    async def GetWorkflow(self, request, context):
        row = await self.workflows.get(callers.current(), request.id, request.known_version)
        return convert.workflow(row, with_flow=row.flow_data is not None)

    async def ListWorkflows(self, request, context):
        rows, token = await self.workflows.list(callers.current(), request.page_size, request.page_token, request.tag,
                                                request.query, request.show_deleted)
        return pb.ListWorkflowsResponse(workflows=[convert.workflow(r, with_flow=False) for r in rows],
                                        next_page_token=token)

    async def UpdateWorkflow(self, request, context):
        w = request.workflow
        paths = list(request.update_mask.paths)
        if not paths:  # AIP-134: no mask means every field the client set
            paths = [p for p in UPDATABLE if (p == "flow_data" and w.HasField("flow_data")) or
                     (p in ("name", "description") and getattr(w, p)) or (p == "tags" and w.tags)]
        fields = {"name": w.name, "description": w.description, "tags": list(w.tags), "is_public": w.is_public,
                  "flow_data": convert.struct_to_dict(w.flow_data, "workflow.flow_data")}
        row, warnings = await self.workflows.update(callers.current(), w.id, fields, paths, w.etag,
                                                    request.version_message)
        return convert.workflow(row, warnings)

    async def DeleteWorkflow(self, request, context):
        await self.workflows.delete(callers.current(), request.id, request.etag)
        return empty_pb2.Empty()

    async def UndeleteWorkflow(self, request, context):
        return convert.workflow(await self.workflows.undelete(callers.current(), request.id))

    async def ListWorkflowVersions(self, request, context):
        rows, token = await self.workflows.versions(callers.current(), request.workflow_id, request.page_size,
                                                    request.page_token)
        return pb.ListWorkflowVersionsResponse(versions=[convert.version(r) for r in rows], next_page_token=token)

    async def GetWorkflowVersion(self, request, context):
        return convert.version(await self.workflows.version(callers.current(), request.workflow_id, request.version))

    async def RestoreWorkflowVersion(self, request, context):
        row, warnings = await self.workflows.restore(callers.current(), request.workflow_id, request.version,
                                                     request.etag)
        return convert.workflow(row, warnings)

    async def DiffWorkflowVersions(self, request, context):
        changes, other = await self.workflows.diff(callers.current(), request.workflow_id, request.version,
                                                   request.other_version)
        return pb.DiffWorkflowVersionsResponse(version=request.version, other_version=other, **vars(changes))

    async def ValidateWorkflow(self, request, context):
        flow = convert.struct_to_dict(request.flow_data) if request.HasField("flow_data") else None
        problems, warnings = await self.workflows.validate(callers.current(), request.id, flow)
        return pb.ValidateWorkflowResponse(valid=not problems, violations=convert.violations(problems),
                                           warnings=warnings)

    async def ExportWorkflow(self, request, context):
        return convert.document(await self.documents.export(callers.current(), request.id, request.include_versions))

    async def ImportWorkflow(self, request, context):
        row, warnings = await self.documents.import_(
            callers.current(), convert.document_from_proto(request.document), request.name,
            dict(request.credential_bindings), request.request_id)
        return convert.workflow(row, warnings)


class TemplateServicer(workflow_pb2_grpc.TemplateServiceServicer):
    def __init__(self, templates: Templates):
        self.templates = templates

    async def ListTemplates(self, request, context):
        builtins, rows, token = await self.templates.list(callers.current(), request.category, request.page_size,
                                                          request.page_token)
        return pb.ListTemplatesResponse(templates=[convert.template(t) for t in [*builtins, *rows]],
                                        next_page_token=token)

    async def GetTemplate(self, request, context):
        return convert.template(await self.templates.get(callers.current(), request.id))

    async def CreateTemplate(self, request, context):
        row = await self.templates.create(callers.current(), request.workflow_id, request.name, request.description,
                                          request.category)
        return convert.template(row)

    async def DeleteTemplate(self, request, context):
        await self.templates.delete(callers.current(), request.id)
        return empty_pb2.Empty()

    async def CreateWorkflowFromTemplate(self, request, context):
        row, warnings = await self.templates.instantiate(callers.current(), request.template_id, request.name,
                                                         request.request_id)
        return convert.workflow(row, warnings)
