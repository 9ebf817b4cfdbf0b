"""One input rule at the edge of every service: no NUL, bounded strings, timestamps in range.

Before the rule, a NUL reached PostgreSQL (500/INTERNAL on sign-up and sign-in), 900 kB descriptions were
stored, and a year-10000 timestamp crashed its conversion."""


import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from agentic.auth.v1 import api_keys_pb2, auth_pb2
from agentic.executor.v1 import executor_pb2, executor_pb2_grpc
from agentic.workflow.v1 import workflow_pb2 as wpb
from services.common.errors import InvalidArgument
from services.common.validation import check_request, request_id_or_new
from tests.auth.helpers import Stubs, bearer, expect_code
from tests.gateway.conftest import signed_in
from tests.workflow.helpers import WorkflowStubs, graph, struct

INVALID = grpc.StatusCode.INVALID_ARGUMENT


@pytest.fixture
async def channels(auth_service, workflow_service, executor_service):
    opened = [grpc.aio.insecure_channel(s.address) for s in (auth_service, workflow_service, executor_service)]
    yield opened
    for channel in opened:
        await channel.close()


def test_rule_names_every_offending_field_inside_structs_maps_and_lists():
    request = wpb.ImportWorkflowRequest(
        name="x" * 1001, credential_bindings={"openai/a": "b\x00"},
        document=wpb.WorkflowDocument(tags=["ok", "bad\x00"], flow_data=struct({"nodes": [{"id": "n\x00"}]})))
    with pytest.raises(InvalidArgument) as info:
        check_request(request)
    fields = {v.field for v in info.value.violations}
    assert fields == {"name", "credential_bindings['openai/a']", "document.tags[1]", "document.flow_data.nodes[0].id"}
    check_request(wpb.ImportWorkflowRequest(name="fine", document=wpb.WorkflowDocument(
        flow_data=struct({"prompt": "long " * 10_000}))))  # Struct strings: bounded by the service, not here


def test_unsafe_request_ids_are_replaced():
    assert request_id_or_new("trace-123:a.b_c") == "trace-123:a.b_c"
    for unsafe in ("", "two words", "x" * 129, "quote\"", "new\nline"):
        assert len(request_id_or_new(unsafe)) == 32 and request_id_or_new(unsafe) != unsafe


async def test_nul_in_unauthenticated_sign_up_and_sign_in_is_400(http):
    for path in ("/api/v1/auth/signup", "/api/v1/auth/signin"):
        for body in ({"email": "nul\u0000@example.com", "password": "long enough password"},
                     {"email": "nul@example.com", "password": "long enough\u0000password"}):
            response = await http.post(path, json=body)
            assert response.status_code == 400, (path, response.text)
            assert "NUL" in response.json()["message"]


async def test_nul_in_path_query_and_graph_is_400(http):
    auth = await signed_in(http)
    assert (await http.get("/api/v1/workflows/%00", headers=auth)).status_code == 400
    assert (await http.get("/api/v1/workflows", params={"query": "a\x00"}, headers=auth)).status_code == 400
    flow = graph()
    flow["nodes"][1]["data"]["prompt"] = "hello\u0000"
    created = await http.post("/api/v1/workflows", headers=auth, json={"name": "nul", "flow_data": flow})
    assert created.status_code == 400 and "flow_data.nodes[1].data.prompt" in created.text


async def test_every_service_refuses_nul_long_strings_and_out_of_range_times(channels):
    auth_channel, workflow_channel, executor_channel = channels
    stubs = Stubs(auth_channel)
    await expect_code(INVALID, stubs.auth.SignUp(auth_pb2.SignUpRequest(email="a\x00@example.com", password="x" * 12)))
    session = await stubs.sign_up("edge")
    token = bearer(session.access_token)
    year_10000 = Timestamp(seconds=253_402_300_800)
    await expect_code(INVALID, stubs.keys.CreateApiKey(
        api_keys_pb2.CreateApiKeyRequest(name="k", expire_time=year_10000), metadata=token))

    workflows = WorkflowStubs(workflow_channel, auth_channel)
    huge = "d" * 900_000
    error = await expect_code(INVALID, workflows.create(session, description=huge))
    assert "workflow.description: must be at most 10000 characters" in error.details()
    made = await workflows.create(session)
    await expect_code(INVALID, workflows.templates.CreateTemplate(
        wpb.CreateTemplateRequest(workflow_id=made.id, name="t", category=huge), metadata=token))

    executor = executor_pb2_grpc.ExecutionServiceStub(executor_channel)
    await expect_code(INVALID, executor.ListExecutions(
        executor_pb2.ListExecutionsRequest(created_after=year_10000), metadata=token))
    stream = executor.StreamExecution(executor_pb2.StreamExecutionRequest(execution_id="\x00"), metadata=token)
    await expect_code(INVALID, stream.read())
