"""Settings refuse placeholder secrets and missing TLS outside dev mode, and find certificates by name."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from services.auth.config import AuthSettings
from services.gateway.config import GatewaySettings


def test_placeholder_database_password_is_refused_outside_dev(tmp_path: Path) -> None:
    url = "postgresql+asyncpg://convoy:changeme@db:5432/convoy"
    with pytest.raises(ValidationError, match="placeholder"):
        AuthSettings(env="prod", database_url=url, pki_dir=tmp_path)
    assert AuthSettings(env="dev", database_url=url).dev_mode


def test_tls_is_required_outside_dev() -> None:
    with pytest.raises(ValidationError, match="TLS is required"):
        GatewaySettings(env="prod")


def test_a_real_password_and_pki_pass_in_prod(tmp_path: Path) -> None:
    settings = AuthSettings(
        env="prod", database_url="postgresql+asyncpg://convoy:Xk3-long-random@db/convoy", pki_dir=tmp_path
    )
    files = settings.tls_files()
    assert files is not None
    assert (files.cert, files.key, files.ca) == (
        tmp_path / "auth.pem",
        tmp_path / "auth-key.pem",
        tmp_path / "ca.pem",
    )


def test_environment_prefix_is_per_service(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONVOY_AUTH_LISTEN", "127.0.0.1:6001")
    monkeypatch.setenv("CONVOY_GATEWAY_ADDR", "127.0.0.1:6002")
    monkeypatch.setenv("CONVOY_ENV", "dev")
    assert AuthSettings().listen == "127.0.0.1:6001"
    assert GatewaySettings().addr == "127.0.0.1:6002"
    assert GatewaySettings().listen != "127.0.0.1:6001"
