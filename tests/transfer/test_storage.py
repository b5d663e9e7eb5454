"""The local blob store: atomic content-addressed commits, deletes, and the stale temp-file sweep."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from pathlib import Path

import pytest

from devstack.postgres import LocalPostgres
from services.transfer.storage import STAGING_DIR, LocalStorage
from tests.support.stack import AuthStack
from tests.support.transfer import start_transfer, transfer_database, transfer_settings


def staged(storage: LocalStorage, data: bytes):  # type: ignore[no-untyped-def]
    upload = storage.stage()
    upload.write(data)
    upload.finish()
    return upload


def test_a_commit_moves_the_bytes_to_their_address(tmp_path: Path) -> None:
    storage, data = LocalStorage(tmp_path), b"artifact bytes"
    upload = staged(storage, data)
    sha256 = hashlib.sha256(data).hexdigest()
    assert (upload.sha256, upload.size) == (sha256, len(data))
    storage.commit(upload, sha256)
    assert storage.path_of(sha256) == tmp_path / "sha256" / sha256[:2] / sha256[2:4] / sha256
    assert storage.path_of(sha256).read_bytes() == data and storage.exists(sha256)
    assert storage.size(sha256) == len(data)
    assert not upload.path.exists()
    with storage.open_read(sha256) as handle:
        assert handle.read() == data


def test_a_second_commit_of_the_same_bytes_keeps_the_first_file(tmp_path: Path) -> None:
    storage, data = LocalStorage(tmp_path), b"same bytes"
    sha256 = hashlib.sha256(data).hexdigest()
    storage.commit(staged(storage, data), sha256)
    inode = storage.path_of(sha256).stat().st_ino
    second = staged(storage, data)
    storage.commit(second, sha256)
    second.discard()
    assert storage.path_of(sha256).stat().st_ino == inode
    assert list(storage.staging.iterdir()) == []


def test_delete_removes_the_file_once(tmp_path: Path) -> None:
    storage, data = LocalStorage(tmp_path), b"to delete"
    sha256 = hashlib.sha256(data).hexdigest()
    storage.commit(staged(storage, data), sha256)
    assert storage.delete(sha256) is True
    assert storage.delete(sha256) is False
    assert not storage.exists(sha256)


def test_discard_removes_an_unfinished_upload(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    upload = storage.stage()
    upload.write(b"half")
    upload.discard()
    upload.discard()
    assert list(storage.staging.iterdir()) == []


def test_the_sweep_removes_only_stale_temp_files(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    stale, fresh, other = (
        storage.staging / name for name in ("upload-old.part", "upload-new.part", "keep.txt")
    )
    for path in (stale, fresh, other):
        path.write_bytes(b"x")
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))
    os.utime(other, (two_hours_ago, two_hours_ago))
    assert storage.sweep_staging(3600) == 1
    assert sorted(path.name for path in storage.staging.iterdir()) == ["keep.txt", "upload-new.part"]


def test_a_commit_makes_every_new_directory_durable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """After a crash the blob must still be reachable: each directory made for it is fsynced into its
    parent, not only the rename into the last one."""
    synced: list[Path] = []
    fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        synced.append(Path(os.readlink(f"/proc/self/fd/{fd}")))
        fsync(fd)

    storage, data = LocalStorage(tmp_path), b"durable bytes"
    sha256 = hashlib.sha256(data).hexdigest()
    monkeypatch.setattr(os, "fsync", recording_fsync)
    storage.commit(staged(storage, data), sha256)
    shard = tmp_path / "sha256" / sha256[:2]
    assert {tmp_path, tmp_path / "sha256", shard, shard / sha256[2:4]} <= set(synced)


@pytest.mark.parametrize("name", ["../../etc/passwd", "a" * 63, "A" * 64, "a" * 64 + "\n"])
def test_paths_are_made_only_from_sha256_digests(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="not a sha256 hex digest"):
        LocalStorage(tmp_path).path_of(name)


@pytest.mark.asyncio(loop_scope="session")
async def test_a_running_service_sweeps_abandoned_uploads_every_interval(
    postgres: LocalPostgres, pki_dir: Path, auth_stack: AuthStack, tmp_path: Path
) -> None:
    settings = transfer_settings(
        await transfer_database(postgres),
        pki_dir,
        tmp_path / "store",
        auth_stack.target,
        sweep_interval_seconds=0.1,
    )
    async with start_transfer(settings) as stack:
        abandoned = stack.storage_root / STAGING_DIR / "upload-abandoned.part"
        abandoned.write_bytes(b"half an upload")
        two_hours_ago = time.time() - 7200
        os.utime(abandoned, (two_hours_ago, two_hours_ago))
        async with asyncio.timeout(10):
            while abandoned.exists():
                await asyncio.sleep(0.05)
