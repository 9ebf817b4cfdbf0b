"""Helpers for workflow tests: stubs, a valid graph, members of an organization with a role."""

import grpc
from google.protobuf.struct_pb2 import Struct

from agentic.auth.v1 import auth_pb2, organizations_pb2
from agentic.workflow.v1 import workflow_pb2 as pb
from agentic.workflow.v1 import workflow_pb2_grpc
from tests.auth.helpers import Stubs, bearer


def graph(model: str = "offline-echo", credential: str = "default") -> dict:
    return {
        "nodes": [{"id": "start", "type": "start", "position": {"x": 0, "y": 0}, "data": {}},
                  {"id": "chat", "type": "chat_model", "position": {"x": 220, "y": 0},
                   "data": {"model": model, "credential": {"service_type": "openai", "name": credential}}},
                  {"id": "end", "type": "end", "position": {"x": 440, "y": 0}, "data": {}}],
        "edges": [{"id": "e1", "source": "start", "target": "chat"}, {"id": "e2", "source": "chat", "target": "end"}],
    }


def struct(value: dict) -> Struct:
    s = Struct()
    s.update(value)
    return s


class WorkflowStubs:
    def __init__(self, workflow_channel: grpc.aio.Channel, auth_channel: grpc.aio.Channel):
        self.workflows = workflow_pb2_grpc.WorkflowServiceStub(workflow_channel)
        self.templates = workflow_pb2_grpc.TemplateServiceStub(workflow_channel)
        self.auth = Stubs(auth_channel)

    async def create(self, session, name: str = "wf", **fields):
        workflow = pb.Workflow(name=name, flow_data=struct(fields.pop("flow", graph())), **fields)
        return await self.workflows.CreateWorkflow(pb.CreateWorkflowRequest(workflow=workflow),
                                                   metadata=bearer(session.access_token))

    async def member_of(self, owner, role: str, tag: str = "member"):
        """A new user added to owner's organization with `role`, signed in there."""
        user = await self.auth.sign_up(tag)
        await self.auth.orgs.AddMember(organizations_pb2.AddMemberRequest(
            organization_id=owner.organization_id, email=user.user.email, role=role),
            metadata=bearer(owner.access_token))
        return await self.auth.auth.SwitchOrganization(
            auth_pb2.SwitchOrganizationRequest(organization_id=owner.organization_id),
            metadata=bearer(user.access_token))
