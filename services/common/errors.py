"""Domain errors and their one mapping to gRPC status with google.rpc details.

Domain code raises these; the server interceptor turns them into a status. Nobody else translates errors.
"""

from dataclasses import dataclass

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

DOMAIN = "agentic.platform"


@dataclass
class FieldViolation:
    field: str
    description: str


class DomainError(Exception):
    code: grpc.StatusCode = grpc.StatusCode.INTERNAL
    reason: str = "INTERNAL"

    def __init__(self, message: str, *, reason: str | None = None):
        super().__init__(message)
        self.message = message
        if reason:
            self.reason = reason

    def details(self) -> list:
        return [error_details_pb2.ErrorInfo(reason=self.reason, domain=DOMAIN)]

    def to_status(self) -> status_pb2.Status:
        status = status_pb2.Status(code=self.code.value[0], message=self.message)
        for detail in self.details():
            packed = any_pb2.Any()
            packed.Pack(detail)
            status.details.append(packed)
        return status


class InvalidArgument(DomainError):
    code = grpc.StatusCode.INVALID_ARGUMENT
    reason = "INVALID_ARGUMENT"

    def __init__(self, field: str | None = None, description: str = "", *, violations=None):
        self.violations = list(violations or [FieldViolation(field or "", description)])
        summary = "; ".join(f"{v.field}: {v.description}" if v.field else v.description for v in self.violations)
        super().__init__(summary)

    def details(self) -> list:
        return [
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
                    for v in self.violations
                ]
            )
        ]


class NotFound(DomainError):
    code = grpc.StatusCode.NOT_FOUND
    reason = "NOT_FOUND"

    def __init__(self, resource: str, resource_id: str = ""):
        super().__init__(f"{resource} {resource_id!r} not found" if resource_id else f"{resource} not found")
        self.resource, self.resource_id = resource, resource_id

    def details(self) -> list:
        return [error_details_pb2.ResourceInfo(resource_type=self.resource, resource_name=self.resource_id)]


class AlreadyExists(DomainError):
    code = grpc.StatusCode.ALREADY_EXISTS
    reason = "ALREADY_EXISTS"


class Aborted(DomainError):
    """Optimistic concurrency lost: the etag no longer matches."""

    code = grpc.StatusCode.ABORTED
    reason = "ETAG_MISMATCH"


class FailedPrecondition(DomainError):
    code = grpc.StatusCode.FAILED_PRECONDITION
    reason = "FAILED_PRECONDITION"


class PermissionDenied(DomainError):
    code = grpc.StatusCode.PERMISSION_DENIED
    reason = "PERMISSION_DENIED"


class Unauthenticated(DomainError):
    code = grpc.StatusCode.UNAUTHENTICATED
    reason = "UNAUTHENTICATED"


class ResourceExhausted(DomainError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    reason = "RATE_LIMITED"

    def __init__(self, message: str, retry_after_seconds: int):
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds

    def details(self) -> list:
        return [
            error_details_pb2.ErrorInfo(reason=self.reason, domain=DOMAIN),
            error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=self.retry_after_seconds)),
        ]


class Unavailable(DomainError):
    code = grpc.StatusCode.UNAVAILABLE
    reason = "UNAVAILABLE"


def internal_status() -> status_pb2.Status:
    """For bugs: a generic message; the traceback goes to the log, never to the caller."""
    return status_pb2.Status(code=code_pb2.INTERNAL, message="internal error")


def database_lost(exc: BaseException) -> bool:
    """The database connection went away under a request (a restart, a dropped or terminated connection): not
    a bug, and worth a retry once the pool has let go of the dead connection."""
    import asyncpg
    from sqlalchemy import exc as sa

    return (isinstance(exc, ConnectionError | asyncpg.PostgresConnectionError | asyncpg.exceptions.AdminShutdownError
                       | asyncpg.exceptions.CannotConnectNowError)
            or (isinstance(exc, asyncpg.InterfaceError) and "connection is closed" in str(exc))
            or (isinstance(exc, sa.DBAPIError) and exc.connection_invalidated))


def unexpected_status(exc: BaseException) -> status_pb2.Status:
    """What the caller is told for an exception no domain code raised: UNAVAILABLE for a lost database
    connection, otherwise internal_status()."""
    if database_lost(exc):
        return Unavailable("the database connection was lost; retry").to_status()
    return internal_status()
