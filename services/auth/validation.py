"""Input rules shared by the auth domain modules."""

import re

from services.common.caller import ROLES
from services.common.errors import InvalidArgument

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")


def normalize_email(email: str) -> str:
    email = email.strip().lower()
    if len(email) > 320 or not _EMAIL.match(email):
        raise InvalidArgument("email", "must be a valid email address")
    return email


def require_role(value: str, field: str = "role", allowed=ROLES) -> str:
    if value not in allowed:
        raise InvalidArgument(field, f"must be one of {', '.join(allowed)}")
    return value
