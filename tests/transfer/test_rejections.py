"""Every dangerous tarball is refused through a real Upload, says why, and leaves nothing behind."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from prometheus_client import REGISTRY

from convoy.transfer.v1 import transfer_pb2 as pb
from convoy.transfer.v1 import transfer_pb2_grpc as pb_grpc
from tests.support.packages import MALICIOUS_CASES, build_malicious_tar
from tests.support.transfer import TransferStack, staged_files, stored_blobs, upload_file
from tests.support.users import Users, grpc_auth

pytestmark = pytest.mark.asyncio(loop_scope="session")

# The short reason each case is counted under in convoy_transfer_upload_rejections_total.
METRIC_REASONS = {
    "parent_path": "unsafe_path",
    "dot_parent_path": "unsafe_path",
    "inner_parent_path": "unsafe_path",
    "absolute_path": "unsafe_path",
    "backslash_path": "unsafe_path",
    "nul_in_name": "unsafe_path",
    "nul_in_link": "unsafe_link",
    "long_name": "unsafe_path",
    "long_component": "unsafe_path",
    "longname_then_pax_path": "unsafe_path",
    "global_pax_path": "unsafe_path",
    "sparse_file": "unsupported_member",
    "symlink_chain": "unsafe_path",
    "symlink_to_root": "unsafe_link",
    "symlink_up": "unsafe_link",
    "symlink_redirected_later": "unsafe_link",
    "symlink_bomb": "unsafe_link",
    "hardlink_escape": "unsafe_link",
    "hardlink_to_symlink": "unsafe_link",
    "dir_then_symlink": "duplicate_member",
    "symlink_over_implicit_dir": "unsafe_path",
    "install_script_twice": "duplicate_member",
    "install_script_through_symlink": "duplicate_member",
    "root_replaced": "unsafe_path",
    "directory_with_data": "unsupported_member",
    "negative_size": "corrupt_archive",
    "file_capabilities": "setuid",
    "huge_header_record": "corrupt_archive",
    "long_digit_run": "corrupt_archive",
    "char_device": "device_file",
    "fifo": "device_file",
    "setuid": "setuid",
    "setgid": "setuid",
    "too_many_members": "too_many_members",
    "expansion_bomb": "expansion_limit",
}


def rejections(reason: str) -> float:
    return REGISTRY.get_sample_value("convoy_transfer_upload_rejections_total", {"reason": reason}) or 0.0


@pytest.mark.parametrize("case", sorted(MALICIOUS_CASES))
async def test_a_dangerous_tarball_is_refused_and_leaves_nothing(
    transfer_stack: TransferStack, users: Users, tmp_path: Path, case: str
) -> None:
    tarball = build_malicious_tar(tmp_path, case, members=transfer_stack.settings.max_archive_members + 1)
    before = rejections(METRIC_REASONS[case])
    async with transfer_stack.channel() as channel:
        stub = pb_grpc.TransferServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await upload_file(
                stub, tarball, metadata=grpc_auth(users.operator), declared_format=pb.ARTIFACT_FORMAT_TAR
            )
        listed = await stub.ListBlobs(pb.ListBlobsRequest(), metadata=grpc_auth(users.viewer))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert MALICIOUS_CASES[case] in refused.value.details()
    assert rejections(METRIC_REASONS[case]) == before + 1
    assert stored_blobs(transfer_stack.storage_root) == []
    assert staged_files(transfer_stack.storage_root) == []
    assert list(listed.blobs) == []
