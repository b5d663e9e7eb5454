"""Deployments end to end: three enrolled agents in namespaces of their own (two deb roots, one rpm root) and
the whole stack as processes; everything through the REST API, every result checked in the sandbox roots.
"""

from __future__ import annotations

import pytest

from tests.support.agents import Fleet, build_scripted_deb, build_scripted_rpm, build_scripted_tarball
from tests.support.e2e_stack import deploy_and_wait, describe, ok, software, upload

E2E_HOSTS = 3
SOFTWARE = "hello-e2e"
TOOL = "tool-e2e"

pytestmark = pytest.mark.timeout(900)


def test_enrolled_agents_report_their_facts(fleet: Fleet) -> None:
    for host in fleet.hosts:
        server = ok(fleet.client.get(f"/api/v1/servers/{host.node_id}"))
        assert server["hostname"] == host.hostname
        assert server["os"]["package_family"] == host.family
        assert server["ip_address"] == host.ip, server


# --- install, update, rollback, uninstall of a deb ------------------------------------------------------


def test_deb_install_update_rollback_uninstall_on_a_group(fleet: Fleet) -> None:
    client, group = fleet.client, {"group_id": fleet.group_id}
    v1 = upload(client, build_scripted_deb(fleet.workdir, SOFTWARE, "1.0-1"))
    v2 = upload(client, build_scripted_deb(fleet.workdir, SOFTWARE, "1.1-1"))
    rpm_id = fleet.rpm.node_id

    # Install: the deb nodes get 1.0-1 with their maintainer scripts run once; the rpm node is skipped.
    install, found = deploy_and_wait(client, package_id=v1["id"], action="install", target=group)
    assert install["state"] == "succeeded", describe(client, install["id"])
    assert found[rpm_id]["state"] == "skipped" and found[rpm_id]["message"], found[rpm_id]
    for host in fleet.debs:
        assert found[host.node_id]["state"] == "succeeded", describe(client, install["id"])
        assert found[host.node_id]["installed_version"] == "1.0-1"
        assert host.dpkg_query(SOFTWARE) == ("1.0-1", "ii ")
        assert software(client, host.node_id, SOFTWARE) == "1.0-1"
        assert host.script_log(SOFTWARE) == ["preinst install 1.0-1", "postinst configure 1.0-1"]
    assert fleet.rpm.rpm_query(SOFTWARE) is None and fleet.rpm.script_log(SOFTWARE) == []
    assert software(client, rpm_id, SOFTWARE) is None
    assert install["counts"]["succeeded"] == 2 and install["counts"]["skipped"] == 1, install["counts"]

    # Update to 1.1-1: dpkg's upgrade sequence, once per node; each target remembers the version before.
    update, found = deploy_and_wait(client, package_id=v2["id"], action="update", target=group)
    assert update["state"] == "succeeded", describe(client, update["id"])
    assert found[rpm_id]["state"] == "skipped"
    for host in fleet.debs:
        target = found[host.node_id]
        assert (target["state"], target["previous_version"], target["installed_version"]) == (
            "succeeded",
            "1.0-1",
            "1.1-1",
        ), target
        assert host.dpkg_query(SOFTWARE) == ("1.1-1", "ii ")
        assert software(client, host.node_id, SOFTWARE) == "1.1-1"
        assert host.script_log(SOFTWARE)[2:] == [
            "prerm upgrade 1.0-1",
            "preinst upgrade 1.1-1",
            "postrm upgrade 1.0-1",
            "postinst configure 1.1-1",
        ]

    # Rollback of the update: every node returns to the version it had before it (a downgrade).
    rollback, found = deploy_and_wait(client, action="rollback", rollback_deployment_id=update["id"])
    assert rollback["state"] == "succeeded", describe(client, rollback["id"])
    assert rollback["rollback_deployment_id"] == update["id"]
    for host in fleet.debs:
        assert found[host.node_id]["state"] == "succeeded", describe(client, rollback["id"])
        assert found[host.node_id]["installed_version"] == "1.0-1"
        assert host.dpkg_query(SOFTWARE) == ("1.0-1", "ii ")
        assert software(client, host.node_id, SOFTWARE) == "1.0-1"
        assert host.script_log(SOFTWARE)[-1] == "postinst configure 1.0-1"
    assert rpm_id not in found or found[rpm_id]["state"] == "skipped"

    # Uninstall: dpkg removes it (prerm/postrm remove) and inventory forgets it.
    before = {host.hostname: len(host.script_log(SOFTWARE)) for host in fleet.debs}
    uninstall, found = deploy_and_wait(client, package_id=v1["id"], action="uninstall", target=group)
    assert uninstall["state"] == "succeeded", describe(client, uninstall["id"])
    for host in fleet.debs:
        assert found[host.node_id]["state"] == "succeeded", describe(client, uninstall["id"])
        found_after = host.dpkg_query(SOFTWARE)
        assert found_after is None or not found_after[1].startswith("ii"), found_after
        assert software(client, host.node_id, SOFTWARE) is None
        assert host.script_log(SOFTWARE)[before[host.hostname] :] == [
            "prerm remove 1.0-1",
            "postrm remove 1.0-1",
        ]


# --- the rpm build of the same software ------------------------------------------------------------------


def test_rpm_build_goes_to_the_rpm_node_only(fleet: Fleet) -> None:
    client = fleet.client
    package = upload(client, build_scripted_rpm(fleet.workdir, SOFTWARE, "1.0", "1"))
    deployment, found = deploy_and_wait(
        client, package_id=package["id"], action="install", target={"group_id": fleet.group_id}
    )
    assert deployment["state"] == "succeeded", describe(client, deployment["id"])
    for host in fleet.debs:
        assert found[host.node_id]["state"] == "skipped", found[host.node_id]
    target = found[fleet.rpm.node_id]
    assert target["state"] == "succeeded", describe(client, deployment["id"])
    assert fleet.rpm.rpm_query(SOFTWARE) == "1.0-1"
    assert fleet.rpm.script_log(SOFTWARE) == ["pre 1 1.0-1", "post 1 1.0-1"]
    assert software(client, fleet.rpm.node_id, SOFTWARE) == target["installed_version"]

    removal, found = deploy_and_wait(
        client, package_id=package["id"], action="uninstall", target={"server_id": fleet.rpm.node_id}
    )
    assert removal["state"] == "succeeded", describe(client, removal["id"])
    assert fleet.rpm.rpm_query(SOFTWARE) is None
    assert fleet.rpm.script_log(SOFTWARE)[2:] == ["preun 0 1.0-1", "postun 0 1.0-1"]
    assert software(client, fleet.rpm.node_id, SOFTWARE) is None


# --- a tar package on both families ----------------------------------------------------------------------


def test_tar_package_installs_on_deb_and_rpm_nodes(fleet: Fleet) -> None:
    client = fleet.client
    package = upload(client, build_scripted_tarball(fleet.workdir, TOOL, "2.0"))
    deployment, found = deploy_and_wait(
        client, package_id=package["id"], action="install", target={"group_id": fleet.group_id}
    )
    assert deployment["state"] == "succeeded", describe(client, deployment["id"])
    for host in fleet.hosts:
        assert found[host.node_id]["state"] == "succeeded", describe(client, deployment["id"])
        assert (host.root / "opt" / TOOL / "VERSION").read_text().strip() == "2.0"
        unpacked = host.root / "var/lib/convoy/tar" / TOOL / "2.0"
        assert host.script_log(TOOL) == [f"install {TOOL} 2.0 {unpacked}"]
        assert software(client, host.node_id, TOOL) == "2.0"
