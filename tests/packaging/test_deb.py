"""The agent's .deb in sandbox roots: install, upgrade, remove and purge with dpkg, the wheels extracted for
this machine's python3, the enrolled configuration the node's own (no conffile: an upgrade that changes the
shipped defaults never stops at a prompt, the agent upgrading itself included), and systemd asked for
nothing an unenrolled agent would start."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest
from convoy_agent.executors import DebExecutor, Package, select_executor
from convoy_agent.sandbox import prepare_deb_root

from tests.packaging.roots import (
    PYTHON,
    Built,
    chroot,
    dpkg,
    enroll_by_hand,
    files_under,
    provide_libraries,
    python_root,
    systemctl_calls,
    systemd_stub,
)
from tests.support.packages import build_deb
from tests.support.sandbox import dpkg_status

pytestmark = pytest.mark.timeout(600)

LIB = Path("usr/lib/convoy-agent")
CONFIG = Path("etc/convoy-agent/agent.json")
DEFAULTS = Path("usr/share/convoy-agent/agent.json")
STATE = Path("var/lib/convoy-agent")
UNIT = "convoy-agent.service"


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def launcher_version(root: Path) -> str:
    """`convoy-agent --version` of the package in the root, run by this machine's python3."""
    done = subprocess.run(
        [str(PYTHON), str(root / "usr/bin/convoy-agent"), "--version"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def with_other_defaults(deb: Path, out: Path) -> Path:
    """The same package with other shipped defaults (a release that changes one), rebuilt with dpkg-deb."""
    tree = out / "tree"
    subprocess.run(["dpkg-deb", "-R", str(deb), str(tree)], check=True, timeout=120)
    (shipped,) = [path for path in tree.rglob("agent.json") if "DEBIAN" not in path.parts]
    defaults = json.loads(shipped.read_text())
    defaults["heartbeat_seconds"] = 15
    shipped.write_text(json.dumps(defaults, indent=2) + "\n")
    md5sums = tree / "DEBIAN" / "md5sums"
    digest = hashlib.md5(shipped.read_bytes(), usedforsecurity=False).hexdigest()
    named = str(shipped.relative_to(tree))
    lines = [
        f"{digest}  {named}" if line.endswith(f"  {named}") else line
        for line in md5sums.read_text().splitlines()
    ]
    md5sums.write_text("\n".join(lines) + "\n")
    changed = out / deb.name
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(tree), str(changed)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return changed


def test_install_upgrade_remove_and_purge_in_a_sandbox_root(built: Built, tmp_path: Path) -> None:
    root = tmp_path / "root"
    prepare_deb_root(str(root))
    version = built.first.version

    output = ok(dpkg(root, "--install", str(built.deb1)))
    assert "dependencies extracted for Python" in output
    assert dpkg_status(root, "convoy-agent") == ("install ok installed", f"{version}-1")
    assert (root / LIB / "deps" / "grpc" / "__init__.py").is_file()
    assert (root / LIB / "deps" / "cryptography").is_dir()
    assert (root / STATE).stat().st_mode & 0o777 == 0o700
    # The defaults are the package's; the configuration is enrollment's to write.
    assert json.loads((root / DEFAULTS).read_text())["state_dir"] == "/var/lib/convoy-agent"
    assert files_under(root, "etc/convoy-agent") == []
    assert launcher_version(root) == f"convoy-agent {version}"
    # Nothing enabled it: that is enrollment's job.
    assert files_under(root, "etc/systemd") == []

    enrolled = enroll_by_hand(root)
    output = ok(dpkg(root, "--install", str(built.deb2)))
    assert dpkg_status(root, "convoy-agent") == ("install ok installed", f"{version}-2")
    assert json.loads((root / CONFIG).read_text()) == enrolled
    assert not [path for path in files_under(root, "etc") if "dpkg-" in path]
    assert launcher_version(root) == f"convoy-agent {version}"

    ok(dpkg(root, "--remove", "convoy-agent"))
    assert dpkg_status(root, "convoy-agent") == ("deinstall ok config-files", f"{version}-2")
    # The enrollment stays for a later install; every file of the package and of its scripts is gone.
    assert files_under(root, "usr", "lib", "etc", str(STATE)) == [
        "/etc/convoy-agent/agent.json",
        "/var/lib/convoy-agent/ca.pem",
        "/var/lib/convoy-agent/node-key.pem",
        "/var/lib/convoy-agent/node.pem",
    ]
    # Installed again, the node is enrolled as it was.
    ok(dpkg(root, "--install", str(built.deb1)))
    assert json.loads((root / CONFIG).read_text()) == enrolled
    ok(dpkg(root, "--remove", "convoy-agent"))

    ok(dpkg(root, "--purge", "convoy-agent"))
    assert dpkg_status(root, "convoy-agent") is None
    assert files_under(root, "usr", "lib", "etc", "var/lib") == files_under(root, "var/lib/dpkg")
    assert not (root / STATE).exists() and not (root / "etc/convoy-agent").exists()


def test_the_scripts_restart_only_an_enrolled_agent_and_never_start_one(built: Built, tmp_path: Path) -> None:
    """dpkg chrooted into a root where "systemd runs" (our systemctl logs what it is asked)."""
    root = python_root(tmp_path / "root", "deb")
    systemd_stub(root)

    ok(dpkg(root, "--install", str(built.deb1), chrootless=False))
    assert systemctl_calls(root) == ["daemon-reload"]
    provide_libraries(root)
    assert (
        ok(chroot(root, "/usr/bin/convoy-agent", "--version")).strip()
        == f"convoy-agent {built.first.version}"
    )

    # An upgrade of an agent that was never enrolled restarts nothing.
    ok(dpkg(root, "--install", str(built.deb2), chrootless=False))
    assert systemctl_calls(root) == ["daemon-reload"]

    enroll_by_hand(root)
    ok(dpkg(root, "--install", str(built.deb1), chrootless=False))
    assert systemctl_calls(root) == ["daemon-reload", f"try-restart {UNIT}"]

    # Run by the agent itself (its own unit's cgroup): the restart must not wait for the agent to stop,
    # since the agent waits for this dpkg before it exits.
    (root / "proc/self").mkdir(parents=True)
    (root / "proc/self/cgroup").write_text(f"0::/system.slice/{UNIT}\n")
    ok(dpkg(root, "--install", str(built.deb2), chrootless=False))
    assert systemctl_calls(root) == ["daemon-reload", f"--no-block try-restart {UNIT}"]

    ok(dpkg(root, "--remove", "convoy-agent", chrootless=False))
    assert systemctl_calls(root) == [f"--no-block stop {UNIT}", f"disable {UNIT}", "daemon-reload"]
    (root / "proc/self/cgroup").unlink()
    ok(dpkg(root, "--purge", "convoy-agent", chrootless=False))
    assert systemctl_calls(root) == ["daemon-reload"]
    assert not (root / STATE).exists()


def test_the_agent_upgrades_itself_past_new_defaults_without_a_prompt(built: Built, tmp_path: Path) -> None:
    """The deb executor, as the agent runs it to upgrade itself (dpkg --install, stdin /dev/null), on an
    enrolled node, to a release whose shipped defaults changed: no conffile question stops it, and the
    node's configuration stays as enrollment and the operator left it."""
    root = tmp_path / "root"
    prepare_deb_root(str(root))
    # The executor honours dependencies: the root's database gets a python3 (the scripts run this
    # machine's, outside the root).
    ok(dpkg(root, "--install", str(build_deb(tmp_path, "python3", "3.11.2-1"))))
    ok(dpkg(root, "--install", str(built.deb1)))
    enrolled = enroll_by_hand(root)
    newer = with_other_defaults(built.deb2, tmp_path)
    executor = select_executor("deb", sandbox_root=str(root), timeout=300)
    assert isinstance(executor, DebExecutor)
    lines: list[str] = []
    executor.install(str(newer), Package("convoy-agent", built.second.full_version), lines.append)
    assert dpkg_status(root, "convoy-agent") == ("install ok installed", built.second.full_version)
    assert json.loads((root / CONFIG).read_text()) == enrolled
    assert json.loads((root / DEFAULTS).read_text())["heartbeat_seconds"] == 15
    assert files_under(root, "etc/convoy-agent") == ["/etc/convoy-agent/agent.json"]

    # Plain dpkg, without the executor's conffile options (the install script's `dpkg -i`): the package
    # has no conffile to ask about, whatever its defaults.
    ok(dpkg(root, "--install", str(built.deb1)))
    assert json.loads((root / DEFAULTS).read_text())["heartbeat_seconds"] == 10
    assert json.loads((root / CONFIG).read_text()) == enrolled
