"""Property-based fuzzing of the whole REST API from its own OpenAPI document (schemathesis + hypothesis).

Every operation gets schema-conforming and schema-violating requests with a real session's token, one by
one and then in sequences that feed one response's ids into the next request (schemathesis infers the
links from the resource schemas: create a workflow, then read, patch, version, export, run it). None may be
answered with a 5xx. Bounded: a few examples per operation and mode, short sequences, no shrinking, no
example database. The calls that would end the test's own session (sign-out, password change, organization
switch) are left out; everything else, sign-up and sign-in included, is fuzzed.
"""

import asyncio
import contextlib

import httpx
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, reject, settings
from hypothesis.errors import FlakyStrategyDefinition
from schemathesis import GenerationMode

from gateway.openapi import build_openapi
from gateway.transcoder import discover
from tests.gateway.conftest import signed_in

EXAMPLES_PER_MODE = 10
SEQUENCES, SEQUENCES_PER_RUN, STEPS_PER_SEQUENCE = 40, 10, 8
ENDS_OWN_SESSION = {"AuthService_SignOut", "AuthService_ChangePassword", "AuthService_SwitchOrganization"}


BOUNDED = settings(deadline=None, database=None, phases=[Phase.generate], suppress_health_check=list(HealthCheck))


def load_schema():
    return schemathesis.openapi.from_dict(build_openapi(discover())).exclude(operation_id=list(ENDS_OWN_SESSION))


def server_error(case, response) -> str | None:
    if response.status_code < 500:
        return None
    return f"{case.method} {case.formatted_path} -> {response.status_code} {response.text[:200]}"


def fuzz(base_url: str, headers: dict) -> tuple[int, list[str]]:
    """Operation by operation: (requests made, server errors seen)."""
    schema = load_schema()
    calls, errors = [0], []
    with requests.Session() as http:
        for result in schema.get_all_operations():
            operation = result.ok()
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                @settings(BOUNDED, max_examples=EXAMPLES_PER_MODE)
                @given(operation.as_strategy(generation_mode=mode))
                def call(case):
                    calls[0] += 1
                    error = server_error(case, case.call(base_url=base_url, session=http, headers=headers, timeout=15))
                    if error:
                        errors.append(error)

                call()
    return calls[0], errors


def fuzz_sequences(base_url: str, headers: dict) -> tuple[int, list[str]]:
    """Stateful: sequences of calls linked by the ids they return. (requests made, server errors seen)."""
    calls, errors = [0], []

    class Sequences(load_schema().as_state_machine()):
        def get_call_kwargs(self, case):
            return {"base_url": base_url, "headers": headers, "timeout": 15}

        def call(self, case, **kwargs):
            # A failed call (a timeout, a dropped connection) is recorded, not raised: hypothesis would replay
            # the sequence, and a replay against a server whose state moved on draws differently.
            try:
                return super().call(case, **kwargs)
            except Exception as exc:  # noqa: BLE001 - every failure is reported with the call that caused it
                errors.append(f"{case.method} {case.formatted_path} raised {type(exc).__name__}: {exc}")
                reject()

        def validate_response(self, response, case, **kwargs):
            calls[0] += 1
            error = server_error(case, response)
            if error:
                errors.append(error)

    # Steps depend on what the server answered before, so when hypothesis replays a prefix it may draw other
    # steps and stop with FlakyStrategyDefinition. Server errors are recorded as they happen, so a stopped run
    # loses nothing: run short batches until the budget of sequences is spent.
    for _ in range(SEQUENCES // SEQUENCES_PER_RUN):
        with contextlib.suppress(FlakyStrategyDefinition):
            Sequences.run(settings=settings(BOUNDED, max_examples=SEQUENCES_PER_RUN,
                                            stateful_step_count=STEPS_PER_SEQUENCE))
    return calls[0], errors


async def fuzz_through_the_gateway(gateway_url: str, fuzzer, tag: str) -> int:
    """Run a (blocking) fuzzer in a thread while the services serve on this loop; fail on server errors."""
    async with httpx.AsyncClient(base_url=gateway_url, timeout=10) as http:
        headers = await signed_in(http, tag)
        calls, errors = await asyncio.to_thread(fuzzer, gateway_url, headers)
        assert not errors, "\n".join(errors[:20])
        assert (await http.get("/api/v1/auth/profile", headers=headers)).status_code == 200  # still signed in
    return calls


async def test_no_rest_request_is_a_server_error(gateway_url):
    assert await fuzz_through_the_gateway(gateway_url, fuzz, "fuzz") > 500


async def test_no_sequence_of_rest_requests_is_a_server_error(gateway_url):
    assert await fuzz_through_the_gateway(gateway_url, fuzz_sequences, "fuzz-seq") > 100
