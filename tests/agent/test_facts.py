"""Facts: os-release parsing and the package family, decided by the tools present (and, when both kinds are
there, the package databases), for the distributions Convoy targets. Fixtures are real os-release files."""

import ipaddress
import json
import platform
import socket
import sys
from pathlib import Path

import pytest
from convoy_agent import __version__, facts

from tests.support.netns import network
from tests.support.sandbox import AGENT_DIR, deb_root, rpm_root

FIXTURES = Path(__file__).with_name("os-release")
DEB_TOOLS = ("dpkg", "dpkg-query", "apt-get")
RPM_TOOLS = ("rpm", "yum", "dnf")

# fixture: (ID, ID_LIKE, VERSION_ID, PRETTY_NAME, the family of the edition)
DISTRIBUTIONS = {
    "kylin-v10-server": ("kylin", [], "V10", "Kylin Linux Advanced Server V10 (Sword)", "rpm"),
    "kylin-v10-desktop": ("kylin", ["debian"], "v10", "Kylin V10 SP1", "deb"),
    "uos-server-20": ("uos", [], "20", "UnionTech OS Server 20", "rpm"),
    "uos-desktop-20": ("uos", [], "20", "UnionTech OS Desktop 20 Pro", "deb"),
    "openeuler-20.03": ("openeuler", [], "20.03", "openEuler 20.03 (LTS)", "rpm"),
    "openeuler-22.03": ("openeuler", [], "22.03", "openEuler 22.03 (LTS-SP1)", "rpm"),
    "anolis-8": ("anolis", ["rhel", "fedora", "centos"], "8.8", "Anolis OS 8.8", "rpm"),
    "centos-7": ("centos", ["rhel", "fedora"], "7", "CentOS Linux 7 (Core)", "rpm"),
    "centos-8": ("centos", ["rhel", "fedora"], "8", "CentOS Linux 8", "rpm"),
    "rocky-9": ("rocky", ["rhel", "centos", "fedora"], "9.3", "Rocky Linux 9.3 (Blue Onyx)", "rpm"),
    "ubuntu-20.04": ("ubuntu", ["debian"], "20.04", "Ubuntu 20.04.6 LTS", "deb"),
    "ubuntu-22.04": ("ubuntu", ["debian"], "22.04", "Ubuntu 22.04.4 LTS", "deb"),
    "ubuntu-24.04": ("ubuntu", ["debian"], "24.04", "Ubuntu 24.04.1 LTS", "deb"),
    "debian-12": ("debian", [], "12", "Debian GNU/Linux 12 (bookworm)", "deb"),
    "deepin-20": ("deepin", [], "20.9", "Deepin 20.9", "deb"),
}


def tools(*names: str):
    present = set(names)
    return lambda name: "/usr/bin/" + name if name in present else None


def no_databases() -> tuple[int, int]:
    return 0, 0


@pytest.mark.parametrize("fixture", sorted(DISTRIBUTIONS))
def test_os_release_fields(fixture: str) -> None:
    release = facts.read_os_release(str(FIXTURES / fixture))
    os_id, id_like, version_id, pretty_name, _ = DISTRIBUTIONS[fixture]
    assert (release.id, release.id_like, release.version_id, release.pretty_name) == (
        os_id,
        id_like,
        version_id,
        pretty_name,
    )


@pytest.mark.parametrize("fixture", sorted(DISTRIBUTIONS))
def test_family_follows_the_tools_present(fixture: str) -> None:
    """Whatever the ID says, a node with only one kind of package tool is of that family."""
    release = facts.read_os_release(str(FIXTURES / fixture))
    assert facts.package_family(release, tools(*DEB_TOOLS), no_databases) == "deb"
    assert facts.package_family(release, tools("dpkg", "dpkg-query"), no_databases) == "deb"
    assert facts.package_family(release, tools(*RPM_TOOLS), no_databases) == "rpm"
    assert facts.package_family(release, tools("rpm", "yum"), no_databases) == "rpm"
    assert facts.package_family(release, tools(), no_databases) == ""


@pytest.mark.parametrize("fixture", sorted(DISTRIBUTIONS))
def test_family_with_both_tools_follows_the_populated_database(fixture: str) -> None:
    release = facts.read_os_release(str(FIXTURES / fixture))
    both = tools(*DEB_TOOLS, *RPM_TOOLS)
    assert facts.package_family(release, both, lambda: (1520, 3)) == "deb"
    assert facts.package_family(release, both, lambda: (0, 812)) == "rpm"


@pytest.mark.parametrize("fixture", sorted(DISTRIBUTIONS))
def test_family_with_both_tools_and_no_database_follows_os_release(fixture: str) -> None:
    """Kylin and UOS: one ID, two families; the edition names (ID_LIKE, "Server", "Desktop") decide."""
    release = facts.read_os_release(str(FIXTURES / fixture))
    expected = DISTRIBUTIONS[fixture][-1]
    assert facts.package_family(release, tools(*DEB_TOOLS, *RPM_TOOLS), no_databases) == expected
    assert facts.family_hint(release) == expected


def test_sandbox_root_database_decides(tmp_path: Path) -> None:
    """A demo agent on an rpm sandbox root of a Debian host is an rpm node, and the other way round."""
    debian = facts.read_os_release(str(FIXTURES / "debian-12"))
    both = tools(*DEB_TOOLS, *RPM_TOOLS)
    assert facts.package_family(debian, both, sandbox_root=str(rpm_root(tmp_path))) == "rpm"
    assert facts.package_family(debian, both, sandbox_root=str(deb_root(tmp_path))) == "deb"


def test_real_package_counts(tmp_path: Path) -> None:
    root = deb_root(tmp_path)
    status = root / "var/lib/dpkg/status"
    status.write_text(
        "Package: a\nStatus: install ok installed\nVersion: 1\n\n"
        "Package: b\nStatus: deinstall ok config-files\nVersion: 1\n\n"
        "Package: c\nStatus: install ok installed\nVersion: 2\n"
    )
    assert facts.count_packages(str(root)) == (2, 0)


def test_quoting_and_comments() -> None:
    fields = facts.parse_os_release(
        '# comment\nNAME="A \\"quoted\\" name"\nID=plain\nVERSION_ID=\'1.0\'\n\nBROKEN LINE\nX=$HOME\n'
    )
    assert fields == {"NAME": 'A "quoted" name', "ID": "plain", "VERSION_ID": "1.0", "X": "$HOME"}


def test_missing_os_release(tmp_path: Path) -> None:
    release = facts.read_os_release(str(tmp_path / "absent"))
    assert (release.id, release.id_like, release.version_id, release.pretty_name) == ("", [], "", "Linux")


def test_collect_describes_this_node() -> None:
    collected = facts.collect(str(FIXTURES / "rocky-9"), which=tools(*RPM_TOOLS))
    assert collected["os_id"] == "rocky"
    assert collected["id_like"] == ["rhel", "centos", "fedora"]
    assert collected["package_family"] == "rpm"
    assert collected["hostname"] == socket.gethostname()
    assert collected["arch"] == platform.machine()
    assert collected["kernel"] == platform.release()
    assert collected["agent_version"] == __version__ == "0.4.0"
    assert collected["python_version"] == platform.python_version()
    addresses = collected["ip_addresses"]
    assert isinstance(addresses, list)
    for address in addresses:
        assert not ipaddress.ip_address(address).is_loopback


def test_the_address_of_the_default_route_comes_first() -> None:
    """On a host of its own whose default route leaves through its second interface, that interface's
    address leads the list (it is the one the scheduler most likely reaches the node at)."""
    with network(1) as net:
        host = net.namespaces[0]
        for command in (
            # A veth pair inside the namespace: the kernel may lack the dummy device type.
            ("link", "add", "uplink", "type", "veth", "peer", "name", "uplink-peer"),
            ("addr", "add", "10.253.0.7/24", "dev", "uplink"),
            ("link", "set", "uplink-peer", "up"),
            ("link", "set", "uplink", "up"),
            ("route", "add", "default", "dev", "uplink"),
        ):
            done = host.run(["ip", *command], timeout=30)
            assert done.returncode == 0, done.stderr
        code = "import json; from convoy_agent import facts; print(json.dumps(facts.ip_addresses()))"
        listed = host.run([sys.executable, "-c", code], {"PYTHONPATH": str(AGENT_DIR)}, timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == ["10.253.0.7", host.ip]
