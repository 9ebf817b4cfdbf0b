"""Input rules shared by the auth domain modules."""

import re
import unicodedata

from services.common.caller import ROLES
from services.common.errors import InvalidArgument

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
# Control (Cc), format (Cf: zero-width spaces and joiners, bidi overrides), surrogates and unassigned code
# points make addresses that look the same but are not: refused.
_INVISIBLE = {"Cc", "Cf", "Cs", "Co", "Cn"}


def canonical_email(email: str) -> str | None:
    """The one spelling of an address we store and look up: NFKC, lower case, no invisible characters.
    None when it cannot be a valid address."""
    email = unicodedata.normalize("NFKC", email).strip().lower()
    if len(email) > 320 or any(unicodedata.category(ch) in _INVISIBLE for ch in email) or not _EMAIL.match(email):
        return None
    return email


def normalize_email(email: str) -> str:
    canonical = canonical_email(email)
    if canonical is None:
        raise InvalidArgument("email", "must be a valid email address without invisible or control characters")
    return canonical


def require_role(value: str, field: str = "role", allowed=ROLES) -> str:
    if value not in allowed:
        raise InvalidArgument(field, f"must be one of {', '.join(allowed)}")
    return value
