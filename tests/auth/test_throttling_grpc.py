"""Throttling that slows attackers without locking the owner out, the client address only on the gateway's
word, sign-up / change-password / service-token throttles, absolute session lifetime, email hygiene."""

import asyncio
import contextlib
import uuid

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from sqlalchemy import text

from agentic.auth.v1 import auth_pb2
from tests.auth.helpers import PASSWORD, Stubs, bearer, expect_code, unique_email

C = grpc.StatusCode
WRONG = "not the password"


@pytest.fixture(scope="module")
def stubs(auth_channel):
    return Stubs(auth_channel)


def place(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:12]}"


@contextlib.asynccontextmanager
async def strict_auth(auth_service, **limits):
    """A second auth replica on the same database with tighter limits (its own signing key and stubs)."""
    from services.auth import server as auth_server

    running = await auth_server.start(auth_service.settings.model_copy(update={"port": 0, **limits}))
    channel = grpc.aio.insecure_channel(running.address)
    try:
        yield Stubs(channel)
    finally:
        await channel.close()
        await running.stop(0)


def retry_delay(error: grpc.aio.AioRpcError) -> int:
    retry = error_details_pb2.RetryInfo()
    assert any(d.Unpack(retry) for d in rpc_status.from_call(error).details)
    return retry.retry_delay.seconds


async def sign_up_at(stubs: Stubs, address: str, email: str | None = None):
    email = email or unique_email("owner")
    await stubs.auth.SignUp(auth_pb2.SignUpRequest(email=email, password=PASSWORD),
                            metadata=await stubs.from_address(address))
    return email


async def sign_in(stubs: Stubs, email: str, password: str, address: str):
    return await stubs.auth.SignIn(auth_pb2.SignInRequest(email=email, password=password),
                                   metadata=await stubs.from_address(address))


async def test_a_guesser_gets_growing_delays_and_never_slows_the_owner_elsewhere(stubs):
    home, attacker = place("home"), place("attacker")
    email = await sign_up_at(stubs, home)
    for _ in range(3):  # the first failures are free
        await expect_code(C.UNAUTHENTICATED, sign_in(stubs, email, WRONG, attacker))
    first = await expect_code(C.RESOURCE_EXHAUSTED, sign_in(stubs, email, PASSWORD, attacker))
    assert retry_delay(first) == 1
    # The owner, from their own address, is not slowed at all.
    assert (await sign_in(stubs, email, PASSWORD, home)).user.email == email
    # Attempts refused while waiting do not count: hammering does not lengthen the wait.
    for _ in range(3):
        await expect_code(C.RESOURCE_EXHAUSTED, sign_in(stubs, email, WRONG, attacker))
    await asyncio.sleep(1.1)
    await expect_code(C.UNAUTHENTICATED, sign_in(stubs, email, WRONG, attacker))
    second = await expect_code(C.RESOURCE_EXHAUSTED, sign_in(stubs, email, WRONG, attacker))
    assert retry_delay(second) == 2  # the delay doubles with every further failure


async def test_the_per_account_budget_spares_the_owners_known_address(auth_service):
    async with strict_auth(auth_service, max_failures_per_account=3, throttle_free_failures=100) as stubs:
        home = place("home")
        email = await sign_up_at(stubs, home)
        for _ in range(3):  # a botnet: a new address every time
            await expect_code(C.UNAUTHENTICATED, sign_in(stubs, email, WRONG, place("bot")))
        refused = await expect_code(C.RESOURCE_EXHAUSTED, sign_in(stubs, email, PASSWORD, place("bot")))
        assert retry_delay(refused) > 0
        # The account's budget is spent for unknown places, not for the owner's own.
        assert (await sign_in(stubs, email, PASSWORD, home)).user.email == email


async def test_spraying_from_one_address_is_bounded_without_locking_out_its_known_users(auth_service):
    async with strict_auth(auth_service, max_failures_per_address=3, throttle_free_failures=100) as stubs:
        proxy = place("proxy")
        colleague = await sign_up_at(stubs, proxy)
        victims = [await sign_up_at(stubs, place("victim")) for _ in range(4)]
        for victim in victims[:3]:
            await expect_code(C.UNAUTHENTICATED, sign_in(stubs, victim, WRONG, proxy))
        await expect_code(C.RESOURCE_EXHAUSTED, sign_in(stubs, victims[3], WRONG, proxy))
        # Someone who has signed in from behind that proxy before still gets in.
        assert (await sign_in(stubs, colleague, PASSWORD, proxy)).user.email == colleague
        # Typos of emails that are no account do not add up against everyone behind an address.
        other_proxy = place("proxy")
        for _ in range(5):
            await expect_code(C.UNAUTHENTICATED, sign_in(stubs, unique_email("nobody"), WRONG, other_proxy))


async def test_x_client_address_counts_only_with_the_gateways_identity(stubs):
    email = (await stubs.sign_up("spoofed")).user.email  # signed up over gRPC: the peer is its address
    for i in range(3):  # a different claimed address each time, but no gateway identity: all the peer's
        await expect_code(C.UNAUTHENTICATED, stubs.auth.SignIn(
            auth_pb2.SignInRequest(email=email, password=WRONG), metadata=(("x-client-address", f"spoof-{i}"),)))
    executor = (await stubs.service("executor"))[0][1]
    for metadata in ((("x-client-address", "spoof-9"),),
                     (("x-client-address", "spoof-9"), ("x-service-authorization", executor))):
        await expect_code(C.RESOURCE_EXHAUSTED, stubs.auth.SignIn(
            auth_pb2.SignInRequest(email=email, password=WRONG), metadata=metadata))
    # Vouched for by the gateway, the client's address is its own counter.
    await expect_code(C.UNAUTHENTICATED, sign_in(stubs, email, WRONG, place("client")))


async def test_sign_up_is_throttled_per_address(auth_service):
    async with strict_auth(auth_service, max_sign_ups_per_address=2) as stubs:
        address = place("signup")
        email = await sign_up_at(stubs, address)
        await expect_code(C.ALREADY_EXISTS, sign_up_at(stubs, address, email))  # attempts count, not successes
        await expect_code(C.RESOURCE_EXHAUSTED, sign_up_at(stubs, address))
        await sign_up_at(stubs, place("signup"))


async def test_wrong_current_passwords_are_throttled_like_sign_ins(stubs):
    session = await stubs.sign_up("changer")
    md = bearer(session.access_token)
    for _ in range(3):
        await expect_code(C.INVALID_ARGUMENT, stubs.auth.ChangePassword(auth_pb2.ChangePasswordRequest(
            current_password=WRONG, new_password="a brand new password"), metadata=md))
    await expect_code(C.RESOURCE_EXHAUSTED, stubs.auth.ChangePassword(auth_pb2.ChangePasswordRequest(
        current_password=PASSWORD, new_password="a brand new password"), metadata=md))


async def test_issue_service_token_is_throttled(auth_service):
    async with strict_auth(auth_service, max_service_token_failures_per_minute=2) as stubs:
        for _ in range(2):
            await expect_code(C.UNAUTHENTICATED, stubs.auth.IssueServiceToken(
                auth_pb2.IssueServiceTokenRequest(service_name="executor", service_secret="guess")))
        await expect_code(C.RESOURCE_EXHAUSTED, stubs.service("executor"))


async def test_sessions_end_after_their_absolute_lifetime_even_when_refreshed(auth_service):
    async with strict_auth(auth_service, session_absolute_ttl_seconds=2) as stubs:
        session = await stubs.sign_up("absolute")
        refreshed = await stubs.auth.RefreshSession(auth_pb2.RefreshSessionRequest(refresh_token=session.refresh_token))
        await asyncio.sleep(2.1)
        error = await expect_code(C.UNAUTHENTICATED, stubs.auth.RefreshSession(
            auth_pb2.RefreshSessionRequest(refresh_token=refreshed.refresh_token)))
        assert "expired" in error.details()


def fullwidth(text: str) -> str:
    return "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in text)


async def test_look_alike_emails_cannot_make_a_second_account(stubs):
    email = unique_email("lookalike")
    await stubs.auth.SignUp(auth_pb2.SignUpRequest(email=email, password=PASSWORD))
    for same in (email.upper(), fullwidth(email)):  # NFKC and case fold to the same address
        await expect_code(C.ALREADY_EXISTS, stubs.auth.SignUp(auth_pb2.SignUpRequest(email=same, password=PASSWORD)))
    assert (await stubs.auth.SignIn(auth_pb2.SignInRequest(email=fullwidth(email), password=PASSWORD))).user.email == email
    local, domain = email.split("@")
    for invisible in ("\u200b", "\u200d", "\u202e", "\x07"):  # zero-width, joiner, bidi override, control
        await expect_code(C.INVALID_ARGUMENT, stubs.auth.SignUp(auth_pb2.SignUpRequest(
            email=f"{local[:3]}{invisible}{local[3:]}@{domain}", password=PASSWORD)))


async def test_failed_sign_ins_store_the_typed_email_only_for_accounts(stubs, auth_service):
    email = unique_email("typed")
    await stubs.auth.SignUp(auth_pb2.SignUpRequest(email=email, password=PASSWORD))
    typed_password = f"hunter2-{uuid.uuid4().hex}"  # a password typed into the email field
    for typed in (typed_password, f"{typed_password}@example.com", email):
        await expect_code(C.UNAUTHENTICATED, stubs.auth.SignIn(auth_pb2.SignInRequest(email=typed, password=WRONG)))
    async with auth_service.engine.connect() as conn:
        stored = (await conn.execute(text(
            "SELECT email FROM auth.login_activity WHERE email LIKE :p OR email = :e AND reason = 'wrong_password'"),
            {"p": f"%{typed_password}%", "e": email})).scalars().all()
    assert stored == [email]
