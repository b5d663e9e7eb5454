"""Fixtures of the transfer tests: a real transfer server per test module, on a real auth server."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from devstack.postgres import LocalPostgres
from services.transfer.config import MIB
from tests.support.stack import AuthStack
from tests.support.transfer import (
    TransferStack,
    start_transfer,
    transfer_database,
    transfer_settings,
)

# Small limits keep the limit tests fast; the defaults are exercised by the settings test.
MAX_UPLOAD_BYTES = 4 * MIB
MAX_MEMBERS = 200
CHUNK_BYTES = 64 * 1024


@pytest.fixture(scope="module")
async def transfer_stack(
    postgres: LocalPostgres, pki_dir: Path, auth_stack: AuthStack, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[TransferStack]:
    """A transfer server with its own database and storage root, shared by one test module."""
    settings = transfer_settings(
        await transfer_database(postgres),
        pki_dir,
        tmp_path_factory.mktemp("artifacts"),
        auth_stack.target,
        max_upload_bytes=MAX_UPLOAD_BYTES,
        max_archive_members=MAX_MEMBERS,
        chunk_bytes=CHUNK_BYTES,
    )
    async with start_transfer(settings) as stack:
        yield stack
