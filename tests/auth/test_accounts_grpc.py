"""Sign-up, sign-in, sessions and tokens over real gRPC against the running auth service."""

import asyncio

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from agentic.auth.v1 import auth_pb2, auth_pb2_grpc
from tests.auth.helpers import PASSWORD, Stubs, bearer, expect_code, unique_email

C = grpc.StatusCode


@pytest.fixture(scope="module")
def stubs(auth_channel):
    return Stubs(auth_channel)


async def test_sign_up_creates_user_personal_org_and_session(stubs):
    session = await stubs.sign_up("alice")
    assert session.access_token and session.refresh_token and session.token_type == "Bearer"
    assert session.role == "owner" and session.organization_id
    profile = await stubs.auth.GetProfile(auth_pb2.GetProfileRequest(), metadata=bearer(session.access_token))
    assert profile.id == session.user.id and profile.display_name == "alice"


async def test_sign_up_normalizes_email_and_rejects_duplicates(stubs):
    email = unique_email("dup")
    await stubs.auth.SignUp(auth_pb2.SignUpRequest(email=email.upper(), password=PASSWORD))
    error = await expect_code(C.ALREADY_EXISTS, stubs.auth.SignUp(auth_pb2.SignUpRequest(email=email, password=PASSWORD)))
    assert "already exists" in error.details()


async def test_sign_up_validation_names_the_field(stubs):
    error = await expect_code(C.INVALID_ARGUMENT, stubs.auth.SignUp(
        auth_pb2.SignUpRequest(email=unique_email(), password="short")))
    status = rpc_status.from_call(error)
    bad_request = error_details_pb2.BadRequest()
    status.details[0].Unpack(bad_request)
    assert bad_request.field_violations[0].field == "password"
    await expect_code(C.INVALID_ARGUMENT, stubs.auth.SignUp(auth_pb2.SignUpRequest(email="nope", password=PASSWORD)))


async def test_sign_in_success_and_same_error_for_unknown_email_and_wrong_password(stubs):
    email = unique_email("signin")
    await stubs.auth.SignUp(auth_pb2.SignUpRequest(email=email, password=PASSWORD))
    session = await stubs.auth.SignIn(auth_pb2.SignInRequest(email=email, password=PASSWORD))
    assert session.user.email == email
    wrong = await expect_code(C.UNAUTHENTICATED, stubs.auth.SignIn(auth_pb2.SignInRequest(email=email, password="x" * 12)))
    unknown = await expect_code(C.UNAUTHENTICATED, stubs.auth.SignIn(
        auth_pb2.SignInRequest(email=unique_email("ghost"), password="x" * 12)))
    assert wrong.details() == unknown.details()


async def test_refresh_rotates_and_reuse_revokes_the_family(stubs, auth_service):
    first = await stubs.sign_up("rotate")
    second = await stubs.auth.RefreshSession(auth_pb2.RefreshSessionRequest(refresh_token=first.refresh_token))
    assert second.refresh_token != first.refresh_token
    # Within the grace window a second use is a race, not theft: refused without revoking.
    await expect_code(C.ABORTED, stubs.auth.RefreshSession(
        auth_pb2.RefreshSessionRequest(refresh_token=first.refresh_token)))
    auth_service.settings.refresh_reuse_grace_seconds = 0
    try:
        await asyncio.sleep(0.01)
        await expect_code(C.UNAUTHENTICATED, stubs.auth.RefreshSession(
            auth_pb2.RefreshSessionRequest(refresh_token=first.refresh_token)))
    finally:
        auth_service.settings.refresh_reuse_grace_seconds = 5
    # The whole family is gone: the newest refresh token and the access token stop working.
    await expect_code(C.UNAUTHENTICATED, stubs.auth.RefreshSession(
        auth_pb2.RefreshSessionRequest(refresh_token=second.refresh_token)))
    await expect_code(C.UNAUTHENTICATED, stubs.auth.GetProfile(
        auth_pb2.GetProfileRequest(), metadata=bearer(second.access_token)))


async def test_concurrent_refreshes_have_exactly_one_winner(stubs):
    session = await stubs.sign_up("race")
    request = auth_pb2.RefreshSessionRequest(refresh_token=session.refresh_token)
    results = await asyncio.gather(*(stubs.auth.RefreshSession(request) for _ in range(8)), return_exceptions=True)
    winners = [r for r in results if isinstance(r, auth_pb2.Session)]
    assert len(winners) == 1
    assert all(r.code() == C.ABORTED for r in results if not isinstance(r, auth_pb2.Session))


async def test_sign_out_stops_refresh_and_access_tokens(stubs):
    session = await stubs.sign_up("bye")
    await stubs.auth.SignOut(auth_pb2.SignOutRequest(), metadata=bearer(session.access_token))
    await expect_code(C.UNAUTHENTICATED, stubs.auth.GetProfile(
        auth_pb2.GetProfileRequest(), metadata=bearer(session.access_token)))
    await expect_code(C.UNAUTHENTICATED, stubs.auth.RefreshSession(
        auth_pb2.RefreshSessionRequest(refresh_token=session.refresh_token)))


async def test_change_password_revokes_other_sessions(stubs):
    email = unique_email("pw")
    first = await stubs.auth.SignUp(auth_pb2.SignUpRequest(email=email, password=PASSWORD))
    other = await stubs.auth.SignIn(auth_pb2.SignInRequest(email=email, password=PASSWORD))
    await expect_code(C.INVALID_ARGUMENT, stubs.auth.ChangePassword(auth_pb2.ChangePasswordRequest(
        current_password="wrong password", new_password="another long one"), metadata=bearer(first.access_token)))
    fresh = await stubs.auth.ChangePassword(auth_pb2.ChangePasswordRequest(
        current_password=PASSWORD, new_password="another long one"), metadata=bearer(first.access_token))
    await expect_code(C.UNAUTHENTICATED, stubs.auth.GetProfile(
        auth_pb2.GetProfileRequest(), metadata=bearer(other.access_token)))
    await expect_code(C.UNAUTHENTICATED, stubs.auth.RefreshSession(
        auth_pb2.RefreshSessionRequest(refresh_token=other.refresh_token)))
    assert (await stubs.auth.GetProfile(auth_pb2.GetProfileRequest(), metadata=bearer(fresh.access_token))).email == email
    await stubs.auth.SignIn(auth_pb2.SignInRequest(email=email, password="another long one"))


async def test_update_profile(stubs):
    session = await stubs.sign_up("prof")
    user = await stubs.auth.UpdateProfile(auth_pb2.UpdateProfileRequest(user=auth_pb2.User(display_name="Prof X")),
                                          metadata=bearer(session.access_token))
    assert user.display_name == "Prof X"
    await expect_code(C.INVALID_ARGUMENT, stubs.auth.UpdateProfile(
        auth_pb2.UpdateProfileRequest(user=auth_pb2.User(display_name="  ")), metadata=bearer(session.access_token)))


async def test_authenticated_rpcs_refuse_missing_and_forged_tokens(stubs):
    await expect_code(C.UNAUTHENTICATED, stubs.auth.GetProfile(auth_pb2.GetProfileRequest()))
    await expect_code(C.UNAUTHENTICATED, stubs.auth.GetProfile(auth_pb2.GetProfileRequest(), metadata=bearer("abc")))
    session = await stubs.sign_up("forge")
    # A refresh token is never an access token.
    await expect_code(C.UNAUTHENTICATED, stubs.auth.GetProfile(
        auth_pb2.GetProfileRequest(), metadata=bearer(session.refresh_token)))


async def test_jwks_publishes_the_signing_key(stubs):
    jwks = await stubs.auth.GetJwks(auth_pb2.GetJwksRequest())
    assert jwks.keys and jwks.keys[0].kty == "OKP" and jwks.keys[0].alg == "EdDSA" and jwks.keys[0].kid


async def test_service_token_needs_the_right_secret(stubs):
    token = await stubs.auth.IssueServiceToken(auth_pb2.IssueServiceTokenRequest(
        service_name="executor", service_secret="test-executor-secret"))
    assert token.access_token and token.role == "service"
    await expect_code(C.UNAUTHENTICATED, stubs.auth.IssueServiceToken(auth_pb2.IssueServiceTokenRequest(
        service_name="executor", service_secret="guess")))
    # A service token cannot act as a user.
    await expect_code(C.UNAUTHENTICATED, stubs.auth.GetProfile(
        auth_pb2.GetProfileRequest(), metadata=bearer(token.access_token)))


async def test_only_acting_services_get_a_token_for_an_organization(stubs, auth_channel):
    """The executor's background runs act for their organization with a token auth signs for it; other
    services may not, and the organization must be a valid id."""
    from services.common.tokens import TokenVerifier, grpc_jwks_fetcher

    org = "7d4ec7e5-35a5-4d60-9a3c-2f0c3c2b6a11"
    acting = await stubs.auth.IssueServiceToken(auth_pb2.IssueServiceTokenRequest(
        service_name="executor", service_secret="test-executor-secret", organization_id=org))
    verifier = TokenVerifier(grpc_jwks_fetcher(auth_channel), "agentic-auth", "agentic-platform")
    caller = await verifier.verify(acting.access_token)
    assert (caller.kind, caller.subject, caller.org_id, caller.role) == ("service", "service:executor", org, "member")
    await expect_code(C.PERMISSION_DENIED, stubs.auth.IssueServiceToken(auth_pb2.IssueServiceTokenRequest(
        service_name="workflow", service_secret="test-workflow-secret", organization_id=org)))
    await expect_code(C.INVALID_ARGUMENT, stubs.auth.IssueServiceToken(auth_pb2.IssueServiceTokenRequest(
        service_name="executor", service_secret="test-executor-secret", organization_id="not-an-id")))
    # Still not a user: the RPCs that need a caller refuse it.
    await expect_code(C.UNAUTHENTICATED, stubs.auth.GetProfile(
        auth_pb2.GetProfileRequest(), metadata=bearer(acting.access_token)))


async def test_revocation_feed_stops_signed_out_tokens_in_other_services(stubs, auth_channel):
    from services.common.tokens import RevocationFeed, ServiceIdentity, TokenVerifier, grpc_jwks_fetcher

    verifier = TokenVerifier(grpc_jwks_fetcher(auth_channel), "agentic-auth", "agentic-platform")
    feed = RevocationFeed(auth_channel, verifier, ServiceIdentity(auth_channel, "workflow", "test-workflow-secret"))
    session = await stubs.sign_up("feed")
    assert (await verifier.verify(session.access_token)).subject == session.user.id
    await stubs.auth.SignOut(auth_pb2.SignOutRequest(), metadata=bearer(session.access_token))
    await feed.poll_once()
    with pytest.raises(Exception, match="signed out"):
        await verifier.verify(session.access_token)
    other = await stubs.sign_up("feed-ok")
    await feed.poll_once()
    assert (await verifier.verify(other.access_token)).subject == other.user.id


async def test_an_unparseable_request_is_invalid_argument_not_unknown(auth_channel):
    # Bytes that do not parse as SignUpRequest: a field 1 (string) whose length runs past the end.
    raw = auth_channel.unary_unary("/agentic.auth.v1.AuthService/SignUp", request_serializer=lambda b: b,
                                   response_deserializer=auth_pb2.Session.FromString)
    await expect_code(C.INVALID_ARGUMENT, raw(b"\x0a\xff\x01abc"))


async def test_a_service_started_before_auth_verifies_tokens_once_auth_is_up(auth_service):
    """The launcher starts services in parallel: a channel still backing off from a refused connection must
    not turn the first requests into 401s."""
    import socket

    from services.auth import server as auth_server
    from services.common.tokens import TokenVerifier, grpc_jwks_fetcher

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    with pytest.raises(grpc.aio.AioRpcError):  # nobody there yet: the channel enters its back-off
        await auth_pb2_grpc.AuthServiceStub(channel).GetJwks(auth_pb2.GetJwksRequest(), timeout=0.5)
    late = await auth_server.start(auth_service.settings.model_copy(update={"port": port}))
    try:
        token = late.accounts.signer.sign(subject="u", org_id="o", role="viewer", ttl=60)
        verifier = TokenVerifier(grpc_jwks_fetcher(channel), "agentic-auth", "agentic-platform")
        assert (await verifier.verify(token)).subject == "u"
    finally:
        await late.stop(0)
        await channel.close()
