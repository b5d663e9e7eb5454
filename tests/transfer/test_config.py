"""Settings of the transfer process: the documented defaults, and bounds that refuse to start."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from services.transfer.config import GIB, MIB, TransferSettings


def test_settings_defaults_and_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("CONVOY_"):
            monkeypatch.delenv(name)
    settings = TransferSettings(env="dev")
    assert (settings.listen, settings.auth_target, settings.storage_root) == (
        "127.0.0.1:50055",
        "127.0.0.1:50051",
        Path("var/artifacts"),
    )
    assert (settings.max_upload_bytes, settings.chunk_bytes) == (4 * GIB, MIB)
    assert (settings.max_archive_members, settings.max_expansion_ratio) == (10_000, 100)
    monkeypatch.setenv("CONVOY_TRANSFER_CHUNK_BYTES", str(8 * MIB))
    with pytest.raises(ValueError, match="chunk_bytes"):
        TransferSettings(env="dev")
