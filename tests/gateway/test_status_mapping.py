"""The gateway turns each gRPC status of a real upstream into the HTTP status and JSON error a client sees."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import grpc
import httpx
import pytest
from prometheus_client import REGISTRY

from convoy.auth.v1 import auth_pb2 as auth_pb
from convoy.auth.v1 import auth_pb2_grpc as auth_grpc
from devstack.ports import free_port
from services.auth.signing import Signer, create_key_file
from services.gateway.app import create_app
from services.gateway.config import GatewaySettings
from services.kit.settings import TlsFiles
from services.kit.tls import server_credentials
from services.kit.tokens import ALGORITHM
from tests.support.stack import gateway_client

pytestmark = pytest.mark.asyncio(loop_scope="session")

LOGIN = "/api/v1/auth/login"
# Would be harmful in a client's hands: internal failures must not pass it on.
SECRET_DETAIL = "db-primary.internal:5432 refused the connection"

# What a client must see for each status code the upstream answers with.
EXPECTED_HTTP = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.FAILED_PRECONDITION: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.DATA_LOSS: 500,
}
# Codes that say "the caller asked for something wrong": never a server error.
CLIENT_ERRORS = {
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.OUT_OF_RANGE,
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.CANCELLED,
}


Context = grpc.aio.ServicerContext


class ScriptedAuth(auth_grpc.AuthServiceServicer):
    """Publishes real token keys; Login fails with the status code its username names."""

    def __init__(self, signer: Signer) -> None:
        self._jwks = auth_pb.GetJwksResponse(
            jwks_json=signer.jwks_json(), issuer=signer.issuer, audience=signer.audience, algorithm=ALGORITHM
        )
        self.request_ids: set[str] = set()

    async def GetJwks(self, request: auth_pb.GetJwksRequest, context: Context) -> auth_pb.GetJwksResponse:
        return self._jwks

    async def Login(self, request: auth_pb.LoginRequest, context: Context) -> auth_pb.LoginResponse:
        self.request_ids.update(v for k, v in context.invocation_metadata() or () if k == "x-request-id")
        code = grpc.StatusCode[request.username]
        trailers = (("retry-after", "7"),) if code == grpc.StatusCode.RESOURCE_EXHAUSTED else ()
        await context.abort(code, f"{code.name}: {SECRET_DETAIL}", trailing_metadata=trailers)


@dataclass(frozen=True)
class Upstream:
    target: str
    servicer: ScriptedAuth


@pytest.fixture(scope="module")
async def upstream(pki_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Upstream]:
    """The scripted auth service on a real mTLS gRPC server, port 0; its target and servicer."""
    key_file = tmp_path_factory.mktemp("keys") / "jwt.pem"
    create_key_file(key_file)
    lifetime = timedelta(minutes=15)
    signer = Signer(key_file.read_bytes(), issuer="convoy", audience="convoy-api", lifetime=lifetime)
    servicer = ScriptedAuth(signer)
    server = grpc.aio.server()
    auth_grpc.add_AuthServiceServicer_to_server(servicer, server)
    files = TlsFiles(pki_dir / "auth.pem", pki_dir / "auth-key.pem", pki_dir / "ca.pem")
    port = server.add_secure_port("127.0.0.1:0", server_credentials(files))
    await server.start()
    try:
        yield Upstream(f"127.0.0.1:{port}", servicer)
    finally:
        await server.stop(0)


@pytest.fixture
async def client(upstream: Upstream, pki_dir: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with gateway_client(upstream.target, pki_dir) as http:
        yield http


async def login_as(
    client: httpx.AsyncClient, username: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    return await client.post(LOGIN, json={"username": username, "password": "irrelevant"}, headers=headers)


def assert_error_shape(response: httpx.Response, code: str) -> dict[str, str]:
    """The one error body every failure has; its request id is the one in the X-Request-ID header."""
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"code", "message", "request_id"}
    assert error["code"] == code
    assert error["message"]
    assert error["request_id"] == response.headers["x-request-id"]
    return error


async def test_the_expected_table_covers_every_failure_code() -> None:
    assert set(EXPECTED_HTTP) == {code for code in grpc.StatusCode if code != grpc.StatusCode.OK}


@pytest.mark.parametrize("code", list(EXPECTED_HTTP), ids=lambda code: code.name)
async def test_upstream_status_becomes_http_status_and_error_body(
    client: httpx.AsyncClient, code: grpc.StatusCode
) -> None:
    response = await login_as(client, code.name)

    assert response.status_code == EXPECTED_HTTP[code]
    error = assert_error_shape(response, code.name.lower())
    if response.status_code < 500:
        assert error["message"] == f"{code.name}: {SECRET_DETAIL}"
    else:
        assert SECRET_DETAIL not in response.text
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        assert response.headers["retry-after"] == "7"
    else:
        assert "retry-after" not in response.headers


@pytest.mark.parametrize("code", sorted(CLIENT_ERRORS, key=lambda c: c.name), ids=lambda c: c.name)
async def test_a_client_error_is_never_a_server_error(
    client: httpx.AsyncClient, code: grpc.StatusCode
) -> None:
    assert 400 <= (await login_as(client, code.name)).status_code < 500


@pytest.mark.parametrize(
    "body",
    [
        {"username": 5, "password": "x"},
        {"username": ["admin"], "password": "x"},
        {"username": "admin", "password": "x", "remember_me": True},
        {"username": "admin"},
        {"username": "", "password": "x"},
    ],
    ids=["number-for-string", "list-for-string", "unknown-field", "missing-field", "empty-username"],
)
async def test_an_invalid_request_body_is_400_invalid_argument(client: httpx.AsyncClient, body: dict) -> None:
    response = await client.post(LOGIN, json=body)
    assert response.status_code == 400
    assert_error_shape(response, "invalid_argument")


async def test_a_body_that_is_not_json_is_400_invalid_argument(client: httpx.AsyncClient) -> None:
    response = await client.post(LOGIN, content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert_error_shape(response, "invalid_argument")


async def test_an_unknown_route_is_404_in_the_error_shape(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert_error_shape(response, "not_found")


async def test_the_clients_request_id_is_echoed_and_forwarded(
    client: httpx.AsyncClient, upstream: Upstream
) -> None:
    request_id = "client-chosen.id_42"
    response = await login_as(client, "NOT_FOUND", headers={"X-Request-ID": request_id})
    assert response.headers["x-request-id"] == request_id
    assert assert_error_shape(response, "not_found")["request_id"] == request_id
    assert request_id in upstream.servicer.request_ids


async def test_an_unsafe_request_id_is_replaced(client: httpx.AsyncClient) -> None:
    sent = "two words\twith-tab" + "x" * 120
    response = await login_as(client, "NOT_FOUND", headers={"X-Request-ID": sent})
    replaced = response.headers["x-request-id"]
    assert replaced and replaced != sent
    assert assert_error_shape(response, "not_found")["request_id"] == replaced


async def test_every_response_gets_a_request_id(client: httpx.AsyncClient) -> None:
    first = (await client.get("/healthz")).headers["x-request-id"]
    second = (await client.get("/healthz")).headers["x-request-id"]
    assert first and second and first != second


async def test_readiness_fails_but_liveness_holds_when_auth_is_down(pki_dir: Path) -> None:
    settings = GatewaySettings(
        env="dev", pki_dir=pki_dir, auth_target=f"127.0.0.1:{free_port()}", readiness_timeout_seconds=2
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test", timeout=10) as http:
            ready = await http.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["status"] == "not ready"
            assert ready.json()["checks"]["auth"] != "ok"
            assert ready.json()["checks"]["token_keys"] == "not loaded"
            live = await http.get("/healthz")
            assert live.status_code == 200 and live.json() == {"status": "ok"}


async def test_readiness_passes_when_auth_serves_keys(client: httpx.AsyncClient) -> None:
    # The scripted upstream has no health service: readiness must say which check failed, not pretend.
    ready = await client.get("/readyz")
    assert ready.json()["checks"]["token_keys"] == "ok"
    assert ready.json()["checks"]["auth"] == "unimplemented"
    assert ready.status_code == 503


EXPECTED_PATHS = {
    "/api/v1/auth/login",
    "/api/v1/auth/refresh",
    "/api/v1/auth/logout",
    "/api/v1/auth/me",
    "/api/v1/auth/password",
    "/api/v1/users",
    "/api/v1/users/{user_id}",
    "/api/v1/audit",
}


async def test_openapi_document_lists_the_api(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["info"]["title"] == "Convoy API"
    assert EXPECTED_PATHS <= set(document["paths"])
    assert "post" in document["paths"]["/api/v1/auth/login"]


async def test_interactive_docs_are_served(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/docs")
    assert response.status_code == 200
    assert "/api/openapi.json" in response.text


async def test_metrics_count_http_requests(client: httpx.AsyncClient) -> None:
    login_404 = {"method": "POST", "route": "/api/v1/auth/login", "status": "404"}
    before = REGISTRY.get_sample_value("convoy_http_requests_total", login_404) or 0
    await login_as(client, "NOT_FOUND")
    assert REGISTRY.get_sample_value("convoy_http_requests_total", login_404) == before + 1


async def test_the_api_port_keeps_the_metrics_to_itself(client: httpx.AsyncClient) -> None:
    response = await client.get("/metrics")
    assert response.status_code == 404
    assert_error_shape(response, "not_found")
