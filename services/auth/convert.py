"""Rows and domain results -> protobuf messages. The only place that builds auth protos."""

from agentic.auth.v1 import api_keys_pb2, auth_pb2, credentials_pb2, organizations_pb2
from services.common.protojson import timestamp


def user(row) -> auth_pb2.User:
    return auth_pb2.User(id=str(row.id), email=row.email, display_name=row.display_name,
                         create_time=timestamp(row.created_at), update_time=timestamp(row.updated_at))


def session(issued) -> auth_pb2.Session:
    return auth_pb2.Session(
        access_token=issued.access_token, refresh_token=issued.refresh_token, token_type="Bearer",
        expires_in=issued.expires_in, user=user(issued.user), organization_id=issued.org_id, role=issued.role,
    )


def access_token(issued) -> auth_pb2.AccessToken:
    return auth_pb2.AccessToken(access_token=issued.access_token, expires_in=issued.expires_in,
                                organization_id=issued.org_id, role=issued.role)


def organization(row, role: str) -> organizations_pb2.Organization:
    return organizations_pb2.Organization(id=str(row.id), name=row.name, role=role,
                                          create_time=timestamp(row.created_at), update_time=timestamp(row.updated_at))


def member(row) -> organizations_pb2.Member:
    return organizations_pb2.Member(user_id=str(row.user_id), email=row.email, display_name=row.display_name,
                                    role=row.role, create_time=timestamp(row.created_at))


def api_key(row) -> api_keys_pb2.ApiKey:
    return api_keys_pb2.ApiKey(
        id=str(row.id), name=row.name, prefix=f"agk_{row.prefix}", role=row.role,
        create_time=timestamp(row.created_at), expire_time=timestamp(row.expires_at),
        last_used_time=timestamp(row.last_used_at), creator_id=str(row.created_by),
    )


def credential(row) -> credentials_pb2.Credential:
    return credentials_pb2.Credential(
        id=str(row.id), name=row.name, service_type=row.service_type, description=row.description,
        hint=row.hint, etag=f'"{row.revision}"', create_time=timestamp(row.created_at),
        update_time=timestamp(row.updated_at),
    )
