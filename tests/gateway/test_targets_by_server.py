"""A deployment's targets filtered to one server through the real gateway and scheduler: the server's own
row whatever its hostname (none, or one that other hostnames contain), and a 400 for a malformed id."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from convoy.inventory.v1 import inventory_pb2 as inv_pb
from devstack.postgres import LocalPostgres
from tests.gateway.test_deployments import URL, add_node, upload
from tests.support.fullstack import FullStack, full_stack
from tests.support.packages import build_deb
from tests.support.stack import AuthStack
from tests.support.users import Users, http_auth

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture(scope="module")
async def stack(
    postgres: LocalPostgres, auth_stack: AuthStack, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[FullStack]:
    async with full_stack(
        postgres, auth_stack, tmp_path_factory.mktemp("targets-by-server"), scheduler={}
    ) as running:
        yield running


async def deployment_of(
    stack: FullStack, users: Users, tmp_path: Path, hostnames: list[str]
) -> tuple[str, list[dict]]:
    """A deployment to a new group of deb servers with these hostnames, and the servers."""
    tag = f"by-server-{uuid.uuid4().hex[:6]}"
    group = await stack.client.post("/api/v1/groups", json={"name": tag}, headers=http_auth(users.operator))
    assert group.status_code == 201, group.text
    group_id = group.json()["id"]
    servers = [
        await add_node(stack, users.operator, name.format(tag=tag), inv_pb.PACKAGE_FAMILY_DEB, group_id)
        for name in hostnames
    ]
    package = await upload(stack, users.operator, build_deb(tmp_path, tag, "1.0-1", arch="all"))
    body = {"package_id": package["id"], "action": "install", "target": {"group_id": group_id}}
    created = await stack.client.post(URL, json=body, headers=http_auth(users.operator))
    assert created.status_code == 201, created.text
    return created.json()["deployment"]["id"], servers


async def rows_for(stack: FullStack, token: str, deployment_id: str, **params: object) -> dict:
    response = await stack.client.get(
        f"{URL}/{deployment_id}/targets", params=params, headers=http_auth(token)
    )
    assert response.status_code == 200, response.text
    return response.json()


async def test_each_server_finds_its_own_row_whatever_its_hostname(
    stack: FullStack, users: Users, tmp_path: Path
) -> None:
    # No hostname at all, and a hostname that every other one contains.
    deployment_id, servers = await deployment_of(
        stack, users, tmp_path, ["", "{tag}-web", "{tag}-web-1", "{tag}-web-2", "{tag}-web-3"]
    )
    for server in servers:
        page = await rows_for(stack, users.viewer, deployment_id, server_id=server["id"], page_size=1)
        assert [row["server_id"] for row in page["items"]] == [server["id"]], server["hostname"]
        assert page["total"] == 1 and page["next_page_token"] == ""
        assert page["items"][0]["hostname"] == server["hostname"]

    named = servers[1]
    both = await rows_for(stack, users.viewer, deployment_id, server_id=named["id"], q=named["hostname"])
    assert [row["server_id"] for row in both["items"]] == [named["id"]]
    elsewhere = await rows_for(stack, users.viewer, deployment_id, server_id=named["id"], q="no-such-host")
    assert elsewhere["items"] == [] and elsewhere["total"] == 0


async def test_a_server_outside_the_deployment_has_no_row_and_a_malformed_id_is_a_400(
    stack: FullStack, users: Users, tmp_path: Path
) -> None:
    deployment_id, _ = await deployment_of(stack, users, tmp_path, ["{tag}-only"])
    outside = await rows_for(stack, users.viewer, deployment_id, server_id=str(uuid.uuid4()))
    assert outside["items"] == [] and outside["total"] == 0

    for malformed in ("not-a-uuid", "x" * 65):
        response = await stack.client.get(
            f"{URL}/{deployment_id}/targets", params={"server_id": malformed}, headers=http_auth(users.viewer)
        )
        assert response.status_code == 400, response.text
        assert "server_id" in response.json()["error"]["message"]
