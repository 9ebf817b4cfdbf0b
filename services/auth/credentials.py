"""Credentials: secrets for nodes, encrypted at rest; the API returns metadata and a masked hint only.

Only two service identities may resolve plaintext, always in the organization they name, and every
resolution is recorded (who, which credential, for which execution if any): the executor, for an execution
it names, and the vectorstore, for a collection's embedding key (no execution).
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime

from services.auth.credential_crypto import CredentialKeyring, DecryptionFailed, associated_data, mask
from services.auth.organizations import cursor_after, next_token
from services.auth.repository import Database
from services.common.caller import Caller
from services.common.errors import Aborted, FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from services.common.pagination import page_size
from services.common.validation import parse_id, require_text

log = logging.getLogger(__name__)
MAX_SECRET_BYTES = 16 * 1024
UPDATABLE = ("name", "description", "secret")
RESOLVER = "service:executor"  # resolves for a run: names its execution
EMBEDDER = "service:vectorstore"  # resolves a collection's embedding key, outside any execution


def _check_secret(secret: str, field: str = "secret") -> str:
    if not secret:
        raise InvalidArgument(field, "is required")
    if len(secret.encode()) > MAX_SECRET_BYTES:
        raise InvalidArgument(field, f"must be at most {MAX_SECRET_BYTES} bytes")
    return secret


def parse_etag(etag: str) -> int | None:
    if not etag:
        return None
    try:
        return int(etag.strip('"W/'))
    except ValueError:
        raise InvalidArgument("credential.etag", "not an etag returned by this API") from None


class Credentials:
    def __init__(self, db: Database, keyring: CredentialKeyring):
        self.db, self.keyring = db, keyring

    async def create(self, caller: Caller, name: str, service_type: str, description: str, secret: str):
        caller.require_role("member")
        name = require_text(name, "credential.name")
        service_type = require_text(service_type, "credential.service_type", 100)
        _check_secret(secret)
        org_id, credential_id, at = uuid.UUID(caller.org_id), uuid.uuid4(), datetime.now(UTC)
        version, ciphertext = self.keyring.encrypt(secret, associated_data(str(org_id), str(credential_id)))
        async with self.db.transaction() as repo:
            return await repo.add_credential(
                id=credential_id, org_id=org_id, name=name, service_type=service_type,
                description=description[:2000], ciphertext=ciphertext, key_version=version, hint=mask(secret),
                created_by=caller.subject, created_at=at, updated_at=at,
            )

    async def list(self, caller: Caller, service_type: str, size: int, token: str):
        limit = page_size(size)
        async with self.db.reading() as repo:
            rows = await repo.credentials_of(uuid.UUID(caller.org_id), service_type, cursor_after(token, "i"), limit)
        return rows, next_token(rows, limit, "created_at", "id", "i")

    async def get(self, caller: Caller, credential_id: str):
        async with self.db.reading() as repo:
            row = await repo.credential(uuid.UUID(caller.org_id), parse_id(credential_id))
        if row is None:
            raise NotFound("credential", credential_id)
        return row

    async def update(self, caller: Caller, credential_id: str, fields: dict, paths: list[str], etag: str):
        caller.require_role("member")
        for path in paths:
            if path not in UPDATABLE:
                raise InvalidArgument("update_mask", f"{path!r} cannot be updated; allowed: {', '.join(UPDATABLE)}")
        paths = paths or [p for p in UPDATABLE if fields.get(p)]
        if not paths:
            raise InvalidArgument("update_mask", "nothing to update")
        org_id, cid = uuid.UUID(caller.org_id), parse_id(credential_id, "credential.id")
        expected = parse_etag(etag)
        async with self.db.transaction() as repo:
            current = await repo.credential(org_id, cid, for_update=True)
            if current is None:
                raise NotFound("credential", credential_id)
            if expected is not None and expected != current.revision:
                raise Aborted("the credential changed since you read it (etag mismatch); read it again")
            values = {"updated_at": datetime.now(UTC)}
            if "name" in paths:
                values["name"] = require_text(fields.get("name", ""), "credential.name")
            if "description" in paths:
                values["description"] = fields.get("description", "")[:2000]
            if "secret" in paths:
                secret = _check_secret(fields.get("secret", ""))
                values["key_version"], values["ciphertext"] = self.keyring.encrypt(
                    secret, associated_data(str(org_id), str(cid)))
                values["hint"] = mask(secret)
            row = await repo.update_credential(org_id, cid, current.revision, **values)
            if row is None:
                raise Aborted("the credential changed concurrently; read it again")
            return row

    async def delete(self, caller: Caller, credential_id: str) -> None:
        caller.require_role("member")
        async with self.db.transaction() as repo:
            if not await repo.delete_credential(uuid.UUID(caller.org_id), parse_id(credential_id)):
                raise NotFound("credential", credential_id)

    async def resolve(self, caller: Caller, organization_id: str, credential_id: str, service_type: str, name: str,
                      execution_id: str):
        """The plaintext of one credential of the named organization: for the executor, for one execution; for
        the vectorstore, with or without one."""
        if caller.subject not in (RESOLVER, EMBEDDER):
            raise PermissionDenied("only the executor's and the vectorstore's service identities may resolve "
                                   "credentials")
        org_id = parse_id(organization_id, "organization_id")
        run_id = parse_id(execution_id, "execution_id") if execution_id or caller.subject == RESOLVER else None
        async with self.db.transaction() as repo:
            if credential_id:
                row = await repo.credential(org_id, parse_id(credential_id))
            elif service_type and name:
                row = await repo.credential_by_name(org_id, service_type, name)
            else:
                raise InvalidArgument("id", "give either id, or service_type and name")
            if row is None:
                raise NotFound("credential", credential_id or f"{service_type}/{name}")
            await repo.record_resolution(org_id=org_id, credential_id=row.id, execution_id=run_id,
                                         service=caller.subject, now=datetime.now(UTC))
        try:
            secret = self.keyring.decrypt(row.key_version, row.ciphertext, associated_data(str(org_id), str(row.id)))
        except DecryptionFailed as exc:
            log.error("credential %s cannot be decrypted: %s", row.id, exc)
            raise FailedPrecondition("this credential cannot be decrypted; store its secret again") from None
        return row, secret

    async def reencrypt_all(self, batch: int = 200) -> int:
        """Move every credential to the newest key version (run after adding a key). Returns how many."""
        moved = 0
        while True:
            async with self.db.transaction() as repo:
                rows = await repo.credentials_not_under(self.keyring.current_version, batch)
                for row in rows:
                    aad = associated_data(str(row.org_id), str(row.id))
                    plaintext = self.keyring.decrypt(row.key_version, row.ciphertext, aad)
                    version, ciphertext = self.keyring.encrypt(plaintext, aad)
                    await repo.replace_ciphertext(row.id, version, ciphertext)
            moved += len(rows)
            if len(rows) < batch:
                return moved
