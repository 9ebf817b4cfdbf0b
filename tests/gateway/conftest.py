"""Fixtures of the gateway tests: an HTTP client of the session's gateway, and a signed-in user."""

import uuid

import httpx
import pytest


@pytest.fixture
async def http(gateway_url):
    async with httpx.AsyncClient(base_url=gateway_url, timeout=10) as client:
        yield client


async def signed_in(http, tag: str = "gw") -> dict:
    """Headers of a new user's session (a new organization of their own)."""
    session = (await http.post("/api/v1/auth/signup", json={
        "email": f"{tag}-{uuid.uuid4().hex[:8]}@example.com", "password": "long enough password"})).json()
    assert "access_token" in session, session
    return {"Authorization": f"Bearer {session['access_token']}"}
