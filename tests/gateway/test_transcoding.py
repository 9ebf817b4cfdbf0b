"""Transcoding rules, limits and error mapping: unit tests on the bindings and the body reader."""

import grpc
import pytest
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2

from gateway import errors
from gateway.body import json_depth_exceeds, parse_json
from gateway.openapi import build_openapi
from gateway.transcoder import RequestError, build_request, discover


@pytest.fixture(scope="module")
def bindings():
    return {b.full_method: b for b in discover()}


def test_every_annotated_method_has_a_route_and_internal_ones_have_none(bindings):
    from agentic.auth.v1 import auth_pb2

    assert "/agentic.auth.v1.AuthService/SignIn" in bindings
    for internal in ("AuthenticateApiKey", "IssueServiceToken", "ListRevocations"):
        assert f"/agentic.auth.v1.AuthService/{internal}" not in bindings
    service = auth_pb2.DESCRIPTOR.services_by_name["AuthService"]
    routed = {b.method.name for b in bindings.values() if b.method.containing_service is service}
    assert routed == {"SignUp", "SignIn", "RefreshSession", "SignOut", "GetProfile", "UpdateProfile",
                      "ChangePassword", "SwitchOrganization", "GetJwks"}


def test_custom_verbs_are_matched_before_plain_variables(bindings):
    ordered = discover()
    templates = [b.template for b in ordered]
    assert templates.index("/api/v1/auth/profile:changePassword") < templates.index("/api/v1/auth/profile")


def test_nested_path_variable_and_body_field(bindings):
    binding = bindings["/agentic.auth.v1.OrganizationService/UpdateOrganization"]
    assert binding.route_path == "/api/v1/organizations/{organization_id}"
    request = build_request(binding, {"organization_id": "org-1"}, [("update_mask", "name")], {"name": "Acme"})
    assert request.organization.id == "org-1" and request.organization.name == "Acme"
    assert list(request.update_mask.paths) == ["name"]


def test_path_wins_over_body_and_unknown_fields_are_ignored(bindings):
    binding = bindings["/agentic.auth.v1.OrganizationService/UpdateMember"]
    request = build_request(binding, {"organization_id": "o", "user_id": "u"}, [],
                            {"organization_id": "evil", "role": "admin", "surprise": 1})
    assert (request.organization_id, request.user_id, request.role) == ("o", "u", "admin")


def test_query_parameters_are_typed(bindings):
    binding = bindings["/agentic.auth.v1.CredentialService/ListCredentials"]
    request = build_request(binding, {}, [("page_size", "7"), ("service_type", "openai"), ("bogus", "x")], None)
    assert request.page_size == 7 and request.service_type == "openai"
    with pytest.raises(RequestError, match="page_size must be an integer") as info:
        build_request(binding, {}, [("page_size", "seven")], None)
    assert info.value.field == "page_size"


def test_if_match_fills_the_etag_of_the_body_resource(bindings):
    binding = bindings["/agentic.auth.v1.CredentialService/UpdateCredential"]
    assert binding.etag_field == "credential.etag"
    request = build_request(binding, {"credential_id": "c1"}, [], {"credential": {"name": "n"}}, if_match='"3"')
    assert request.credential.etag == '"3"' and request.credential.id == "c1"


def test_wrong_json_types_are_a_400_naming_the_problem(bindings):
    binding = bindings["/agentic.auth.v1.AuthService/SignUp"]
    with pytest.raises(RequestError, match="email"):
        build_request(binding, {}, [], {"email": {"not": "a string"}})
    with pytest.raises(RequestError, match="JSON object"):
        build_request(binding, {}, [], ["a", "list"])


def test_json_depth_is_checked_without_recursion():
    deep = b"[" * 100_000 + b"]" * 100_000
    assert json_depth_exceeds(deep, 64)
    with pytest.raises(RequestError, match="nested deeper"):
        parse_json(deep, 64)
    assert not json_depth_exceeds(b'{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}', 8)
    assert not json_depth_exceeds(b'{"a": "quote \\" and [[[[[[[[[[["}', 3)
    assert parse_json(b'{"a": [1, {"b": 2}]}', 3) == {"a": [1, {"b": 2}]}
    with pytest.raises(RequestError, match="not valid JSON"):
        parse_json(b"{oops", 64)
    with pytest.raises(RequestError, match="UTF-8"):
        parse_json(b'{"a": "\xff"}', 64)
    for constant in (b"NaN", b"Infinity", b"-Infinity"):
        with pytest.raises(RequestError, match="finite"):
            parse_json(b'{"a": ' + constant + b"}", 64)


@pytest.mark.parametrize("code, http", [
    (grpc.StatusCode.INVALID_ARGUMENT, 400), (grpc.StatusCode.FAILED_PRECONDITION, 400),
    (grpc.StatusCode.NOT_FOUND, 404), (grpc.StatusCode.ALREADY_EXISTS, 409), (grpc.StatusCode.ABORTED, 409),
    (grpc.StatusCode.PERMISSION_DENIED, 403), (grpc.StatusCode.UNAUTHENTICATED, 401),
    (grpc.StatusCode.RESOURCE_EXHAUSTED, 429), (grpc.StatusCode.UNAVAILABLE, 503),
    (grpc.StatusCode.DEADLINE_EXCEEDED, 504), (grpc.StatusCode.CANCELLED, 499), (grpc.StatusCode.UNIMPLEMENTED, 501),
    (grpc.StatusCode.INTERNAL, 500), (grpc.StatusCode.OUT_OF_RANGE, 400),
])
def test_status_table_matches_grpc_gateway(code, http):
    assert errors.HTTP_STATUS[code] == http


def test_downstream_internal_errors_do_not_leak_their_text():
    class Failed(grpc.aio.AioRpcError):
        def __init__(self, code):
            super().__init__(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details="Traceback: secret path /srv/x.py")

    for code in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL):
        response = errors.from_rpc_error(Failed(code))
        assert response.status_code == 500 and b"Traceback" not in response.body


def test_details_are_decoded_from_the_status_trailer():
    status = status_pb2.Status(code=8, message="slow down")
    for detail in (error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=42)),
                   error_details_pb2.ErrorInfo(reason="RATE_LIMITED", domain="agentic.platform")):
        packed = any_pb2.Any()
        packed.Pack(detail)
        status.details.append(packed)
    details = errors.decode_details([("grpc-status-details-bin", status.SerializeToString())])
    assert details[0]["retry_delay"] == "42s"
    assert details[1]["reason"] == "RATE_LIMITED" and details[1]["@type"].endswith("google.rpc.ErrorInfo")


def test_openapi_describes_every_route_with_schemas():
    bindings = discover()
    document = build_openapi(bindings)
    for b in bindings:
        operation = document["paths"][b.route_path][b.http_method.lower()]
        assert "application/json" in operation["responses"]["200"]["content"] or b.server_streaming
        if b.body:
            assert operation["requestBody"]["content"]["application/json"]["schema"]
    credential = document["components"]["schemas"]["agentic.auth.v1.Credential"]["properties"]
    assert credential["create_time"] == {"type": "string", "format": "date-time"}
    update = document["paths"]["/api/v1/credentials/{credential_id}"]["patch"]
    assert update["parameters"][0] == {"name": "credential_id", "in": "path", "required": True,
                                       "schema": {"type": "string", "minLength": 1},
                                       "description": "the request's `credential.id`"}
    upload = document["paths"]["/api/v1/collections/{collection_id}/documents:upload"]["post"]
    form = upload["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert form["required"] == ["file"] and form["properties"]["file"]["format"] == "binary"
    assert upload["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/agentic.vectorstore.v1.Document"}


def test_openapi_path_parameters_have_their_proto_types_and_plain_names(bindings):
    document = build_openapi(list(bindings.values()))
    version = document["paths"]["/api/v1/workflows/{workflow_id}/versions/{version}"]["get"]["parameters"]
    assert {p["name"]: p["schema"]["type"] for p in version if p["in"] == "path"} == {
        "workflow_id": "string", "version": "integer"}
    update = document["paths"]["/api/v1/workflows/{workflow_id}"]["patch"]["parameters"]
    assert [p["name"] for p in update if p["in"] == "path"] == ["workflow_id"]
    assert not [path for path in document["paths"] if "." in path.replace("/.well-known", "")]


def test_map_query_parameters_fill_the_map(bindings):
    binding = bindings["/agentic.workflow.v1.WorkflowService/ImportWorkflow"]
    request = build_request(binding, {}, [("credential_bindings[openai/prod]", "ours"), ("name", "copy")],
                            {"format": "agentic.workflow/v1", "name": "original"})
    assert dict(request.credential_bindings) == {"openai/prod": "ours"} and request.name == "copy"
    assert request.document.name == "original"
