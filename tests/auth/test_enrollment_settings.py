"""Enrollment settings: the node CA found next to the service CA, certificate lifetime and token bounds,
and an auth server without a node CA that says so instead of failing obscurely."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import grpc
import pytest
from pydantic import ValidationError

from convoy.auth.v1 import auth_pb2 as pb
from convoy.auth.v1 import auth_pb2_grpc as pb_grpc
from devstack.postgres import LocalPostgres
from services.auth.config import AuthSettings
from services.auth.node_ca import NodeAuthority
from services.kit.pki import write_pki_dir
from tests.support.stack import (
    ADMIN_PASSWORD,
    AuthStack,
    auth_settings,
    create_join_token,
    fresh_database,
    redeem_join_token,
    start_auth,
)
from tests.support.users import grpc_auth

ASYNC = pytest.mark.asyncio(loop_scope="session")


def test_the_node_ca_is_found_in_the_pki_dir(tmp_path: Path) -> None:
    settings = AuthSettings(env="dev", pki_dir=tmp_path)

    assert (settings.node_ca, settings.node_ca_key) == (
        tmp_path / "node-ca.pem",
        tmp_path / "node-ca-key.pem",
    )
    assert AuthSettings(env="dev").node_ca is None


def test_explicit_node_ca_paths_win(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONVOY_AUTH_NODE_CA", str(tmp_path / "nodes.pem"))
    monkeypatch.setenv("CONVOY_AUTH_NODE_CA_KEY", str(tmp_path / "nodes-key.pem"))

    settings = AuthSettings(env="dev", pki_dir=tmp_path / "pki")

    assert (settings.node_ca, settings.node_ca_key) == (tmp_path / "nodes.pem", tmp_path / "nodes-key.pem")


@pytest.mark.parametrize(
    "values",
    [
        {"node_cert_hours": 0},
        {"node_cert_hours": 721},
        {"join_token_min_seconds": 2000},
        {"join_token_default_seconds": 4000},
        {"join_token_max_uses": 0},
    ],
)
def test_out_of_bounds_enrollment_settings_are_refused(values: dict[str, int]) -> None:
    with pytest.raises(ValidationError):
        AuthSettings(env="dev", **values)


def test_a_pki_dir_without_the_node_ca_is_reported_at_start(tmp_path: Path) -> None:
    write_pki_dir(tmp_path, ["auth"])
    (tmp_path / "node-ca.pem").unlink()
    (tmp_path / "node-ca-key.pem").unlink()

    with pytest.raises(ValueError, match="cannot load the node CA"):
        NodeAuthority.load(AuthSettings(env="dev", pki_dir=tmp_path))


@pytest.fixture(scope="module")
async def short_lived(
    postgres: LocalPostgres, pki_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[AuthStack]:
    """An auth server that signs node certificates for one hour."""
    url = await fresh_database(postgres, "auth")
    settings = auth_settings(url, pki_dir, tmp_path_factory.mktemp("keys") / "jwt.pem", node_cert_hours=1)
    async with start_auth(settings) as stack:
        yield stack


async def login(channel: grpc.aio.Channel) -> str:
    reply = await pb_grpc.AuthServiceStub(channel).Login(
        pb.LoginRequest(username="admin", password=ADMIN_PASSWORD), timeout=10
    )
    return reply.tokens.access_token


@ASYNC
async def test_node_certificates_live_as_long_as_configured(short_lived: AuthStack) -> None:
    async with short_lived.channel("gateway") as channel:
        admin = await login(channel)
    created = await create_join_token(short_lived, admin)

    node, _ = await redeem_join_token(short_lived, created.token)

    certificate = node.certificate
    assert certificate.not_valid_after_utc - certificate.not_valid_before_utc == timedelta(hours=1, minutes=5)


@ASYNC
async def test_auth_without_a_pki_refuses_enrollment_clearly(postgres: LocalPostgres, tmp_path: Path) -> None:
    url = await fresh_database(postgres, "auth")
    settings = auth_settings(url, None, tmp_path / "jwt.pem")  # type: ignore[arg-type]
    async with start_auth(settings) as stack:
        async with grpc.aio.insecure_channel(stack.target) as channel:
            admin = await login(channel)
            request = pb.CreateJoinTokenRequest(server_id=str(uuid.uuid4()))
            with pytest.raises(grpc.aio.AioRpcError) as failure:
                await pb_grpc.EnrollmentServiceStub(channel).CreateJoinToken(
                    request, metadata=grpc_auth(admin), timeout=10
                )

    assert failure.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "no node CA" in (failure.value.details() or "")
