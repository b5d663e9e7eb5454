"""The credentials file: where it lives, its modes, and that a write replaces it whole or not at all."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from convoyctl.credentials import CredentialStore, Session, config_dir
from convoyctl.errors import AuthError


def session(server: str = "https://convoy.example", token: str = "access-1") -> Session:
    return Session(server, "alice", token, "refresh-1", "2030-01-01T00:00:00Z", None, None)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_file_is_0600_in_a_0700_directory(tmp_path: Path) -> None:
    old_umask = os.umask(0o022)
    try:
        store = CredentialStore(tmp_path / "home" / ".config" / "convoy")
        store.save(session())
    finally:
        os.umask(old_umask)
    assert mode(store.path) == 0o600
    assert mode(store.directory) == 0o700
    assert store.session("https://convoy.example") == session()
    assert store.current_server() == "https://convoy.example"


def test_a_directory_others_can_read_is_closed(tmp_path: Path) -> None:
    directory = tmp_path / "convoy"
    directory.mkdir(mode=0o755)
    directory.chmod(0o755)
    CredentialStore(directory).save(session())
    assert mode(directory) == 0o700


def test_a_write_replaces_the_file_by_rename_and_leaves_nothing_behind(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path / "convoy")
    store.save(session())
    before = store.path.stat().st_ino
    store.save(session(token="access-2"))
    assert store.path.stat().st_ino != before, "rewritten in place, not replaced"
    assert sorted(p.name for p in store.directory.iterdir()) == ["credentials.json"]
    assert store.session("https://convoy.example").access_token == "access-2"  # type: ignore[union-attr]


def test_a_failed_write_leaves_the_old_file_whole(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path / "convoy")
    store.save(session())
    original = store.path.read_bytes()
    broken = Session("https://other.example", "bob", "t", "r", access_expires_at=object())  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        store.save(broken)
    assert store.path.read_bytes() == original
    assert sorted(p.name for p in store.directory.iterdir()) == ["credentials.json"]


def test_sessions_per_server_and_logout_forgets_one(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path / "convoy")
    store.save(session("https://a.example"))
    store.save(session("https://b.example"), make_current=False)
    assert store.current_server() == "https://a.example"
    assert store.remove("https://a.example") is True
    assert store.session("https://a.example") is None
    assert store.current_server() == "https://a.example", "still the server commands go to"
    assert store.remove("https://a.example") is False
    assert json.loads(store.path.read_text())["sessions"].keys() == {"https://b.example"}


def test_a_damaged_file_is_reported_and_a_new_login_replaces_it(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path / "convoy")
    store.directory.mkdir(mode=0o700)
    store.path.write_text("{not json")
    with pytest.raises(AuthError, match="remove it and log in again"):
        store.session("https://a.example")
    store.save(session("https://a.example"))
    assert store.session("https://a.example") == session("https://a.example")


def test_config_dir_follows_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert config_dir({"XDG_CONFIG_HOME": "/srv/cfg"}) == Path("/srv/cfg/convoy")
    # The XDG rules: a relative value is ignored.
    assert config_dir({"XDG_CONFIG_HOME": "relative"}) == tmp_path / ".config" / "convoy"
    assert config_dir({}) == tmp_path / ".config" / "convoy"
