"""What the gateway refuses before any gRPC call, and what it never lets through from the gRPC library."""

import uuid

import grpc

from gateway import errors
from gateway.pages import page_headers
from gateway.request_checks import deadline
from gateway.settings import GatewaySettings
from tests.gateway.conftest import signed_in

JSON = {"content-type": "application/json"}


async def test_grpc_timeout_must_be_a_positive_bounded_grpc_timeout(http):
    auth = await signed_in(http)
    for bad in ("0S", "-5S", "nanS", "infS", "1e400S", "123456789S", "10X", "S", "1.5S"):
        response = await http.get("/api/v1/workflows", headers={**auth, "grpc-timeout": bad})
        assert response.status_code == 400 and "Grpc-Timeout" in response.json()["message"], bad
    assert (await http.get("/api/v1/workflows", headers={**auth, "grpc-timeout": "5S"})).status_code == 200
    settings = GatewaySettings()
    assert deadline("1n", settings) == 0.001 and deadline("500m", settings) == 0.5
    assert deadline("99999999H", settings) == settings.max_request_timeout_seconds


async def test_oversized_headers_are_431(http):
    many = await http.get("/api/v1/auth/jwks", headers={f"x-pad-{i}": "p" * 1000 for i in range(20)})
    assert many.status_code == 431 and many.json()["code"] == 431
    token = await http.get("/api/v1/workflows", headers={"Authorization": "Bearer " + "a" * 5000})
    assert token.status_code == 431 and "authorization" in token.json()["message"]
    key = await http.get("/api/v1/workflows", headers={"X-API-Key": "k" * 5000})
    assert key.status_code == 431


async def test_a_body_that_is_not_json_is_415(http):
    body = b'{"email": "a@example.com", "password": "long enough password"}'
    for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
        headers = {"content-type": content_type} if content_type else {}
        response = await http.post("/api/v1/auth/signin", content=body, headers=headers)
        assert response.status_code == 415, content_type
    charset = await http.post("/api/v1/auth/signin", content=body,
                              headers={"content-type": "application/json; charset=utf-8"})
    assert charset.status_code == 401  # read and answered: unknown account
    auth = await signed_in(http)
    created = (await http.post("/api/v1/workflows", headers=auth, json={"name": "bodiless undelete"})).json()
    await http.delete(f"/api/v1/workflows/{created['id']}", headers=auth)
    empty = await http.post(f"/api/v1/workflows/{created['id']}:undelete", headers=auth)  # no body: no type needed
    assert empty.status_code == 200


async def test_unsafe_client_request_ids_are_replaced(http):
    for unsafe in ("has spaces", "x" * 200, "quote\"d", "semi;colon"):
        response = await http.get("/api/v1/auth/jwks", headers={"x-request-id": unsafe})
        assert response.headers["x-request-id"] != unsafe and len(response.headers["x-request-id"]) == 32


async def test_reused_request_id_for_another_request_is_409_not_the_first_resource(http):
    auth = await signed_in(http)
    request_id = uuid.uuid4().hex
    first = await http.post("/api/v1/workflows", headers=auth, params={"request_id": request_id},
                            json={"name": "first"})
    retry = await http.post("/api/v1/workflows", headers=auth, params={"request_id": request_id},
                            json={"name": "first"})
    assert first.status_code == retry.status_code == 200 and retry.json()["id"] == first.json()["id"]
    other = await http.post("/api/v1/workflows", headers=auth, params={"request_id": request_id},
                            json={"name": "second"})
    assert other.status_code == 409 and "request_id" in other.json()["message"]
    assert first.json()["name"] not in other.text


async def test_token_errors_do_not_carry_library_text(http):
    auth = await signed_in(http)
    tampered = auth["Authorization"][:-6] + ("AAAAAA" if not auth["Authorization"].endswith("AAAAAA") else "BBBBBB")
    response = await http.get("/api/v1/workflows", headers={"Authorization": tampered})
    assert response.status_code == 401 and response.json()["message"] == "invalid access token"


def test_statuses_made_by_the_grpc_library_get_our_words():
    for code, text in ((grpc.StatusCode.RESOURCE_EXHAUSTED, "Received message larger than max (9 vs 8)"),
                       (grpc.StatusCode.UNKNOWN, "Stream removed"),
                       (grpc.StatusCode.CANCELLED, "Stream removed"),
                       (grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")):
        error = grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details=text)
        body = errors.from_rpc_error(error).body.decode()
        assert text not in body and code.name in body


async def test_console_and_docs_carry_a_csp_and_cannot_be_framed(http):
    for path in ("/", "/docs"):
        response = await http.get(path)
        policy = response.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy and "default-src 'self'" in policy
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "unsafe-inline" not in policy.split("script-src", 1)[1].split(";")[0]
    docs_policy = (await http.get("/docs")).headers["content-security-policy"]
    assert "'sha256-" in docs_policy  # its one inline script (Swagger UI's set-up), by hash


def test_inline_scripts_are_allowed_by_hash_only():
    headers = page_headers("<p>x</p><script>alert(1)</script>")
    assert "script-src 'self' 'sha256-bhHHL3z2vDgxUt0W3dWQOrprscmda2Y5pLsLg4GF+pI=';" in headers["content-security-policy"]
    assert "script-src 'self';" in page_headers("<p>no scripts</p>")["content-security-policy"]


async def test_swagger_ui_is_served_from_the_package_not_a_cdn(http):
    page = (await http.get("/docs")).text
    assert "cdn" not in page.lower() and "https://" not in page
    script = await http.get("/docs/assets/swagger-ui-bundle.js")
    assert script.status_code == 200 and "SwaggerUIBundle" in script.text[:500_000]
    assert (await http.get("/docs/assets/swagger-ui.css")).status_code == 200


async def test_replies_with_tokens_or_keys_are_never_cached(http):
    email = f"cache-{uuid.uuid4().hex[:8]}@example.com"
    signup = await http.post("/api/v1/auth/signup", json={"email": email, "password": "long enough password"})
    signin = await http.post("/api/v1/auth/signin", json={"email": email, "password": "long enough password"})
    auth = {"Authorization": f"Bearer {signin.json()['access_token']}"}
    key = await http.post("/api/v1/api-keys", headers=auth, json={"name": "ci"})
    for response in (signup, signin, key):
        assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
        assert response.headers["x-content-type-options"] == "nosniff"
    listed = await http.get("/api/v1/workflows", headers=auth)
    assert "cache-control" not in listed.headers  # ordinary reads keep their ETag caching
