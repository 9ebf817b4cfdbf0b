"""The one server interceptor: request id, authentication by explicit policy, error mapping, logging.

Wrapping the handler once (rather than stacking interceptors) keeps the per-RPC overhead to a function
call. Every method must be listed in the service's policy; an unlisted method is UNAUTHENTICATED.
"""

import logging
import time
from collections.abc import Mapping

import grpc
from grpc_status import rpc_status

from services.common import caller as caller_ctx
from services.common.errors import DomainError, InvalidArgument, Unauthenticated, unexpected_status
from services.common.tokens import TokenVerifier
from services.common.validation import check_request, request_id_or_new

log = logging.getLogger("rpc")

PUBLIC = "public"  # no credentials needed
AUTHENTICATED = "authenticated"  # a user's access token or an API key's token
SERVICE = "service"  # a platform service's identity token
# A caller's token as AUTHENTICATED, or a service's token acting for an organization (IssueServiceToken with
# organization_id: the executor's background runs, which have no caller token). The organization comes from
# the signed token, never from a header.
ACTING = "acting"
_INFRASTRUCTURE = ("/grpc.health.v1.Health/", "/grpc.reflection.")


def _metadata_value(metadata, key: str) -> str:
    for item in metadata or ():
        if item.key == key:
            return item.value
    return ""


class _Unparseable:
    """Stands in for a request the deserializer refused, so the handler can answer INVALID_ARGUMENT
    (an exception in the deserializer itself would reach the caller as UNKNOWN)."""


_UNPARSEABLE = _Unparseable()


def _tolerant(deserializer):
    if deserializer is None:
        return None

    def parse(data: bytes):
        try:
            return deserializer(data)
        except Exception:  # DecodeError, or nesting past protobuf's recursion limit
            return _UNPARSEABLE

    return parse


def _check(request) -> None:
    """The edge rule of every service (services.common.validation), on a parsed request."""
    if request is _UNPARSEABLE:
        raise InvalidArgument("request", "could not be parsed: malformed, not UTF-8 or nested too deeply")
    check_request(request)


async def _parsed(requests):
    async for request in requests:
        _check(request)
        yield request


async def _abort(context: grpc.aio.ServicerContext, status) -> None:
    converted = rpc_status.to_status(status)
    await context.abort(converted.code, converted.details, converted.trailing_metadata)


class ServiceInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, policy: Mapping[str, str], verifier: TokenVerifier | None):
        self._policy = policy
        self._verifier = verifier
        self._wrapped: dict[str, grpc.RpcMethodHandler] = {}  # built once per method, not per call

    async def intercept_service(self, continuation, handler_call_details):
        method = handler_call_details.method
        wrapped = self._wrapped.get(method)
        if wrapped is not None:
            return wrapped
        handler = await continuation(handler_call_details)
        if handler is None or method.startswith(_INFRASTRUCTURE):
            return handler
        rule = self._policy.get(method)
        if handler.unary_unary:
            wrapped = grpc.unary_unary_rpc_method_handler(
                self._wrap_unary(handler.unary_unary, method, rule),
                request_deserializer=_tolerant(handler.request_deserializer),
                response_serializer=handler.response_serializer,
            )
        elif handler.stream_unary:  # client streaming (uploads): every message is checked as it arrives
            wrapped = grpc.stream_unary_rpc_method_handler(
                self._wrap_unary(handler.stream_unary, method, rule, streamed=True),
                request_deserializer=_tolerant(handler.request_deserializer),
                response_serializer=handler.response_serializer,
            )
        elif handler.unary_stream:
            wrapped = grpc.unary_stream_rpc_method_handler(
                self._wrap_stream(handler.unary_stream, method, rule),
                request_deserializer=_tolerant(handler.request_deserializer),
                response_serializer=handler.response_serializer,
            )
        else:
            return handler
        self._wrapped[method] = wrapped
        return wrapped

    async def _authenticate(self, rule: str | None, context) -> caller_ctx.Caller | None:
        metadata = context.invocation_metadata()
        caller_ctx.request_id.set(request_id_or_new(_metadata_value(metadata, "x-request-id")))
        if rule is None:
            raise Unauthenticated("this method is not open to callers")
        authorization = _metadata_value(metadata, "authorization")
        if rule == PUBLIC and not authorization:
            return None
        if not authorization.lower().startswith("bearer ") or self._verifier is None:
            if rule == PUBLIC:
                return None
            raise Unauthenticated("missing bearer token")
        verified = await self._verifier.verify(authorization[7:].strip())
        if rule == SERVICE and verified.kind != "service":
            raise Unauthenticated("this method needs a service identity")
        if rule == AUTHENTICATED and verified.kind == "service":
            raise Unauthenticated("service tokens cannot act as users")
        if rule == ACTING and verified.kind == "service" and not verified.org_id:
            raise Unauthenticated("a service token acts here only for an organization")
        return verified

    def _wrap_unary(self, behavior, method: str, rule: str | None, streamed: bool = False):
        async def handle(request, context):
            started = time.perf_counter()
            try:
                caller_ctx.set_current(await self._authenticate(rule, context))
                if streamed:
                    request = _parsed(request)
                else:
                    _check(request)
                return await behavior(request, context)
            except DomainError as exc:
                _log_failure(method, exc, started)
                await _abort(context, exc.to_status())
            except grpc.aio.AbortError:
                raise
            except Exception as exc:
                log.exception("rpc %s failed request_id=%s", method, caller_ctx.request_id.get())
                await _abort(context, unexpected_status(exc))

        return handle

    def _wrap_stream(self, behavior, method: str, rule: str | None):
        async def handle(request, context):
            started = time.perf_counter()
            try:
                caller_ctx.set_current(await self._authenticate(rule, context))
                _check(request)
                async for response in behavior(request, context):
                    yield response
            except DomainError as exc:
                _log_failure(method, exc, started)
                await _abort(context, exc.to_status())
            except grpc.aio.AbortError:
                raise
            except Exception as exc:
                log.exception("rpc %s failed request_id=%s", method, caller_ctx.request_id.get())
                await _abort(context, unexpected_status(exc))

        return handle


def _log_failure(method: str, exc: DomainError, started: float) -> None:
    log.info(
        "rpc %s -> %s (%s) in %.1f ms request_id=%s",
        method, exc.code.name, exc.message, (time.perf_counter() - started) * 1000, caller_ctx.request_id.get(),
    )
