"""Which addresses share a budget of failed enrollments: one IPv4 address, one IPv6 /64, and an
IPv4-mapped IPv6 address together with the IPv4 address it is."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from devstack.postgres import LocalPostgres
from services.auth.throttle import enroll_key
from tests.support.stack import (
    auth_settings,
    create_join_token,
    fresh_database,
    redeem_join_token,
    start_auth,
)
from tests.support.users import make_users

BAD_TOKEN = "cvj_" + "y" * 43


@pytest.mark.parametrize(
    ("peer", "key"),
    [
        ("ipv4:192.0.2.50:2000", "enroll:192.0.2.50"),
        ("192.0.2.50:3000", "enroll:192.0.2.50"),
        # gRPC writes IPv6 peers as URIs, brackets and zone percent-encoded.
        ("ipv6:%5B2001:db8:1:2::a%5D:1000", "enroll:2001:db8:1:2::/64"),
        ("ipv6:%5B2001:db8:1:2:ffff:ffff:ffff:ffff%5D:1", "enroll:2001:db8:1:2::/64"),
        ("ipv6:[2001:db8:1:3::a]:1000", "enroll:2001:db8:1:3::/64"),
        ("[2001:db8:1:2::9]:80", "enroll:2001:db8:1:2::/64"),
        ("2001:db8:1:2::9", "enroll:2001:db8:1:2::/64"),
        ("ipv6:%5Bfe80::1%25eth0%5D:5", "enroll:fe80::/64"),
        ("ipv6:%5B::ffff:192.0.2.50%5D:9", "enroll:192.0.2.50"),
        ("::ffff:192.0.2.50", "enroll:192.0.2.50"),
        ("unix:/run/convoy.sock", "enroll:unix:/run/convoy.sock"),
        ("", ""),
    ],
)
def test_an_enrolling_address_is_counted_by_ip_v6_network_or_mapped_ip_v4(peer: str, key: str) -> None:
    assert enroll_key(peer) == key


@pytest.mark.asyncio(loop_scope="session")
async def test_one_ipv6_network_and_a_mapped_ipv4_address_share_one_budget(
    postgres: LocalPostgres, pki_dir: Path, tmp_path: Path
) -> None:
    url = await fresh_database(postgres, "auth")
    settings = auth_settings(url, pki_dir, tmp_path / "jwt.pem", throttle_enroll_failures=2)
    async with start_auth(settings) as auth:
        users = await make_users(auth)

        async def redeem(token: str, peer: str) -> grpc.StatusCode:
            try:
                await redeem_join_token(auth, token, peer_address=peer)
            except grpc.aio.AioRpcError as failure:
                return failure.code()
            return grpc.StatusCode.OK

        async def good_token() -> str:
            return (await create_join_token(auth, users.operator)).token

        # Two failures from two addresses of one /64 block every address in it, even with a good token.
        for peer in ("ipv6:%5B2001:db8:7:1::a%5D:1000", "ipv6:%5B2001:db8:7:1::b%5D:1001"):
            assert await redeem(BAD_TOKEN, peer) == grpc.StatusCode.UNAUTHENTICATED
        blocked = await redeem(await good_token(), "ipv6:%5B2001:db8:7:1:ffff::c%5D:1002")
        assert blocked == grpc.StatusCode.RESOURCE_EXHAUSTED
        # The neighbouring /64 is another site.
        assert await redeem(await good_token(), "ipv6:%5B2001:db8:7:2::a%5D:1000") == grpc.StatusCode.OK

        # An IPv4 address reached over IPv6 (mapped) spends the same budget as over IPv4.
        assert await redeem(BAD_TOKEN, "ipv6:%5B::ffff:192.0.2.70%5D:1000") == grpc.StatusCode.UNAUTHENTICATED
        assert await redeem(BAD_TOKEN, "ipv4:192.0.2.70:1001") == grpc.StatusCode.UNAUTHENTICATED
        for peer in ("ipv4:192.0.2.70:1002", "ipv6:%5B::ffff:192.0.2.70%5D:1003"):
            assert await redeem(await good_token(), peer) == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert await redeem(await good_token(), "ipv4:192.0.2.71:1000") == grpc.StatusCode.OK
