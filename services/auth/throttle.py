"""Throttling that slows an attacker without locking the owner out (OWASP ASVS 5.0 V6.3.1).

Counters come from `login_activity`, so every auth replica sees the same numbers:
- per account and address: the first few failures are free, then each attempt waits a delay that doubles
  with every further failure (capped). Only failures from that address count, so a guesser elsewhere cannot
  slow the owner down; a refused (throttled) attempt is not a failure, so waiting it out is the only way on.
- per account (ASVS: at most 100 failed attempts an hour on one account) and per address (password spraying
  across accounts): bounded rates over an hour. Addresses the account has signed in from recently are
  exempt, so an attacker who exhausts the account's budget does not lock the owner out of their usual place.
- sign-ups per address (each costs a 64 MiB argon2 hash).
Failures against unknown emails do not count: there is no account to guess into, and counting them would let
one address's typos add up against everyone behind it.
"""

import uuid
from datetime import datetime, timedelta

from services.auth.repository import Repository
from services.auth.settings import AuthSettings
from services.common.errors import ResourceExhausted

HOUR = timedelta(hours=1)


def _retry_after(until: datetime, at: datetime) -> int:
    return max(1, int((until - at).total_seconds()) + 1)


class Throttle:
    def __init__(self, settings: AuthSettings):
        self.settings = settings

    def delay_after(self, failures: int) -> int:
        """Seconds an account-and-address pair waits after `failures` consecutive failures."""
        extra = failures - self.settings.throttle_free_failures
        return 0 if extra < 0 else min(2 ** extra, self.settings.throttle_max_delay_seconds)

    async def check_password_attempt(self, repo: Repository, user_id: uuid.UUID | None, address: str,
                                     at: datetime) -> None:
        """Before a password is checked (sign-in, change-password): refuse with a retry delay, or pass."""
        window = at - HOUR
        known = user_id is not None and await repo.succeeded_from(
            user_id, address, at - timedelta(days=self.settings.known_address_days))
        if not known:
            count, oldest, _ = await repo.failures(client_address=address, since=window)
            if count >= self.settings.max_failures_per_address:
                raise ResourceExhausted("too many failed sign-ins from this address; try again later",
                                        _retry_after(oldest + HOUR, at))
            if user_id is not None:
                count, oldest, _ = await repo.failures(user_id=user_id, since=window)
                if count >= self.settings.max_failures_per_account:
                    raise ResourceExhausted("too many failed sign-ins for this account; try again later",
                                            _retry_after(oldest + HOUR, at))
        if user_id is not None:
            count, _, newest = await repo.failures(user_id=user_id, client_address=address, since=window,
                                                   after_last_success=True)
            delay = self.delay_after(count)
            if delay and newest + timedelta(seconds=delay) > at:
                raise ResourceExhausted("too many failed attempts; wait before trying again",
                                        _retry_after(newest + timedelta(seconds=delay), at))

    async def check_sign_up(self, repo: Repository, address: str, at: datetime) -> None:
        count, oldest = await repo.sign_ups_from(address, at - HOUR)
        if count >= self.settings.max_sign_ups_per_address:
            raise ResourceExhausted("too many sign-ups from this address; try again later",
                                    _retry_after(oldest + HOUR, at))
