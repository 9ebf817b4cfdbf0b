"""The auth slice end to end over HTTP through the gateway: what a user of the REST API sees."""

import asyncio
import logging
import uuid

import httpx
import pytest
from sqlalchemy import text

from services.common.db import make_engine

PASSWORD = "correct horse battery"
SECRET = "sk-live-HTTP-plaintext-secret-987654321"


def email(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:8]}@example.com"


@pytest.fixture
async def http(gateway_url):
    async with httpx.AsyncClient(base_url=f"{gateway_url}/api/v1", timeout=10) as client:
        yield client


async def sign_up(http, tag: str) -> dict:
    response = await http.post("/auth/signup", json={"email": email(tag), "password": PASSWORD, "display_name": tag})
    assert response.status_code == 200, response.text
    return response.json()


def auth(session: dict) -> dict:
    return {"Authorization": f"Bearer {session['access_token']}"}


async def test_sign_up_in_profile_refresh_reuse_and_sign_out(http, auth_service):
    address = email("flow")
    signed_up = await http.post("/auth/signup", json={"email": address, "password": PASSWORD})
    assert signed_up.status_code == 200
    session = (await http.post("/auth/signin", json={"email": address, "password": PASSWORD})).json()
    assert session["token_type"] == "Bearer" and session["user"]["email"] == address
    profile = await http.get("/auth/profile", headers=auth(session))
    assert profile.status_code == 200 and profile.json()["email"] == address

    refreshed = await http.post("/auth/refresh", json={"refresh_token": session["refresh_token"]})
    assert refreshed.status_code == 200
    new = refreshed.json()
    assert new["refresh_token"] != session["refresh_token"]
    assert (await http.get("/auth/profile", headers=auth(new))).status_code == 200

    auth_service.settings.refresh_reuse_grace_seconds = 0
    try:
        reused = await http.post("/auth/refresh", json={"refresh_token": session["refresh_token"]})
    finally:
        auth_service.settings.refresh_reuse_grace_seconds = 5
    assert reused.status_code == 401
    assert reused.json()["details"][0]["reason"] == "REFRESH_TOKEN_REUSED"
    # The family is revoked: the newer tokens are dead too.
    assert (await http.post("/auth/refresh", json={"refresh_token": new["refresh_token"]})).status_code == 401
    assert (await http.get("/auth/profile", headers=auth(new))).status_code == 401

    other = (await http.post("/auth/signin", json={"email": address, "password": PASSWORD})).json()
    assert (await http.post("/auth/signout", json={}, headers=auth(other))).status_code == 200
    assert (await http.get("/auth/profile", headers=auth(other))).status_code == 401


async def test_errors_are_json_with_the_right_status(http):
    short = await http.post("/auth/signup", json={"email": email("bad"), "password": "short"})
    assert short.status_code == 400
    body = short.json()
    assert body["details"][0]["field_violations"][0]["field"] == "password"
    assert "message" in body and body["code"] == 400
    session = await sign_up(http, "errors")
    duplicate = await http.post("/auth/signup", json={"email": session["user"]["email"], "password": PASSWORD})
    assert duplicate.status_code == 409
    assert (await http.get("/auth/profile")).status_code == 401
    assert (await http.get("/auth/profile", headers={"Authorization": "Bearer nonsense"})).status_code == 401


async def test_sign_in_throttling_is_429_with_retry_after_and_a_short_growing_delay(http):
    address = email("throttle")
    await http.post("/auth/signup", json={"email": address, "password": PASSWORD})
    for _ in range(3):  # the first failures are free
        assert (await http.post("/auth/signin", json={"email": address, "password": "wrong password"})).status_code == 401
    throttled = await http.post("/auth/signin", json={"email": address, "password": PASSWORD})
    assert throttled.status_code == 429
    wait = int(throttled.headers["retry-after"])
    assert 0 < wait <= 2
    # A delay, not a lockout: once it has passed, the owner signs in.
    await asyncio.sleep(wait)
    assert (await http.post("/auth/signin", json={"email": address, "password": PASSWORD})).status_code == 200


async def test_tenant_isolation_over_http(http):
    a, b = await sign_up(http, "http-a"), await sign_up(http, "http-b")
    credential = (await http.post("/credentials", headers=auth(b), json={
        "credential": {"name": "b", "service_type": "openai"}, "secret": SECRET})).json()
    key = (await http.post("/api-keys", headers=auth(b), json={"name": "b"})).json()
    b_org, b_user = b["organization_id"], b["user"]["id"]
    for method, path, body in (
        ("GET", f"/credentials/{credential['id']}", None),
        ("PATCH", f"/credentials/{credential['id']}", {"credential": {"name": "x"}, "update_mask": "name"}),
        ("DELETE", f"/credentials/{credential['id']}", None),
        ("GET", f"/api-keys/{key['api_key']['id']}", None),
        ("DELETE", f"/api-keys/{key['api_key']['id']}", None),
        ("GET", f"/organizations/{b_org}", None),
        ("GET", f"/organizations/{b_org}/members", None),
        ("PATCH", f"/organizations/{b_org}/members/{b_user}", {"role": "viewer"}),
        ("DELETE", f"/organizations/{b_org}/members/{b_user}", None),
    ):
        response = await http.request(method, path, headers=auth(a), json=body)
        assert response.status_code == 404, (method, path, response.text)
    assert (await http.get(f"/credentials/{credential['id']}", headers=auth(b))).status_code == 200


async def test_viewer_cannot_create_credentials(http):
    owner, viewer = await sign_up(http, "v-owner"), await sign_up(http, "viewer")
    added = await http.post(f"/organizations/{owner['organization_id']}/members", headers=auth(owner),
                            json={"email": viewer["user"]["email"], "role": "viewer"})
    assert added.status_code == 200 and added.json()["role"] == "viewer"
    switched = (await http.post("/auth/session:switchOrganization", headers=auth(viewer),
                                json={"organization_id": owner["organization_id"]})).json()
    assert switched["role"] == "viewer"
    denied = await http.post("/credentials", headers=auth(switched), json={
        "credential": {"name": "v", "service_type": "openai"}, "secret": SECRET})
    assert denied.status_code == 403
    assert (await http.get("/credentials", headers=auth(switched))).status_code == 200


async def test_api_key_works_as_x_api_key_header(http):
    owner = await sign_up(http, "xkey")
    created = (await http.post("/api-keys", headers=auth(owner), json={"name": "script", "role": "member"})).json()
    as_key = {"X-API-Key": created["key"]}
    made = await http.post("/credentials", headers=as_key, json={
        "credential": {"name": "from-script", "service_type": "serpapi"}, "secret": SECRET})
    assert made.status_code == 200, made.text
    listed = await http.get("/credentials", headers=as_key)
    assert [c["name"] for c in listed.json()["credentials"]] == ["from-script"]
    tampered = created["key"][:-1] + ("1" if created["key"][-1] == "0" else "0")
    assert (await http.get("/credentials", headers={"X-API-Key": tampered})).status_code == 401


async def test_plaintext_secret_is_nowhere_in_responses_logs_or_database(http, caplog, migrated_database):
    caplog.set_level(logging.DEBUG)
    owner = await sign_up(http, "nowhere")
    responses = [await http.post("/credentials", headers=auth(owner), json={
        "credential": {"name": "main", "service_type": "openai"}, "secret": SECRET})]
    cid = responses[0].json()["id"]
    responses += [
        await http.get("/credentials", headers=auth(owner)),
        await http.get(f"/credentials/{cid}", headers=auth(owner)),
        await http.patch(f"/credentials/{cid}", headers=auth(owner),
                         json={"credential": {"description": "d"}, "secret": SECRET, "update_mask": "description,secret"}),
        await http.post("/credentials", headers=auth(owner), json={  # duplicate: an error path
            "credential": {"name": "main", "service_type": "openai"}, "secret": SECRET}),
    ]
    assert [r.status_code for r in responses] == [200, 200, 200, 200, 409]
    for response in responses:
        assert SECRET not in response.text and SECRET[-8:] not in response.text
    assert responses[1].json()["credentials"][0]["hint"] == "sk-…4321"
    assert SECRET not in caplog.text
    engine = make_engine(migrated_database)
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT * FROM auth.credentials WHERE id = :id"), {"id": cid})).all()
    await engine.dispose()
    assert rows and SECRET not in str(rows) and SECRET.encode() not in rows[0].ciphertext
