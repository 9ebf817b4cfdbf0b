"""Who is calling: set by the server interceptor from a verified token, read by servicers."""

import contextvars
from dataclasses import dataclass

from services.common.errors import PermissionDenied, Unauthenticated

ROLES = ("viewer", "member", "admin", "owner")
_RANK = {role: rank for rank, role in enumerate(ROLES)}


@dataclass(frozen=True, slots=True)
class Caller:
    subject: str  # user id, "apikey:<id>" or "service:<name>"
    org_id: str
    role: str
    token_id: str = ""
    session_id: str = ""
    issued_at: int = 0
    kind: str = "user"  # user | api_key | service
    # The member whose current role bounds this caller's: the user, or the API key's creator.
    member: str = ""

    @property
    def user_id(self) -> str:
        if self.kind != "user":
            raise PermissionDenied("this operation needs a signed-in user, not an API key or a service")
        return self.subject

    def require_role(self, minimum: str) -> None:
        if _RANK.get(self.role, -1) < _RANK[minimum]:
            raise PermissionDenied(f"requires role {minimum} or higher in this organization (you are {self.role})")

    def at_least(self, minimum: str) -> bool:
        return _RANK.get(self.role, -1) >= _RANK[minimum]


def role_rank(role: str) -> int:
    return _RANK.get(role, -1)


_current: contextvars.ContextVar[Caller | None] = contextvars.ContextVar("caller", default=None)
request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")


def current() -> Caller:
    caller = _current.get()
    if caller is None:
        raise Unauthenticated("missing or invalid credentials")
    return caller


def set_current(caller: Caller | None) -> contextvars.Token:
    return _current.set(caller)
