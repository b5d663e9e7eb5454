"""The deb executor never stops at dpkg's conffile question (its stdin is closed, so the question would fail
the install): a conffile the admin changed stays as they left it, with the package's new one beside it; one
they left alone takes the new version. Real dpkg on a sandbox root."""

import subprocess
from pathlib import Path

import pytest
from convoy_agent.executors import DebExecutor, Package, select_executor

from tests.support.sandbox import deb_root, dpkg_status

NAME = "demo-conf"
EDITED = Path("etc/demo-conf/edited.conf")
UNTOUCHED = Path("etc/demo-conf/untouched.conf")


def conffile_deb(tmp_path: Path, version: str) -> Path:
    """A real .deb whose two conffiles say which version shipped them."""
    tree = tmp_path / f"tree-{version}"
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "DEBIAN" / "control").write_text(
        f"Package: {NAME}\nVersion: {version}\nArchitecture: all\nMaintainer: Convoy Tests <tests@example.com>\n"
        "Description: A test package with conffiles\n Built by the test suite.\n"
    )
    (tree / "DEBIAN" / "conffiles").write_text(f"/{EDITED}\n/{UNTOUCHED}\n")
    for conffile in (EDITED, UNTOUCHED):
        (tree / conffile).parent.mkdir(parents=True, exist_ok=True)
        (tree / conffile).write_text(f"shipped with {version}\n")
    out = tmp_path / f"{NAME}_{version}_all.deb"
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", "--build", str(tree), str(out)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return out


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return deb_root(tmp_path)


def test_a_changed_conffile_never_stops_an_update(tmp_path: Path, root: Path) -> None:
    executor = select_executor("deb", sandbox_root=str(root), timeout=120)
    assert isinstance(executor, DebExecutor)
    lines: list[str] = []
    executor.install(str(conffile_deb(tmp_path, "1.0-1")), Package(NAME, "1.0-1"), lines.append)
    (root / EDITED).write_text("the admin's setting\n")

    executor.update(str(conffile_deb(tmp_path, "2.0-1")), Package(NAME, "2.0-1"), lines.append)
    assert dpkg_status(root, NAME) == ("install ok installed", "2.0-1")
    assert (root / EDITED).read_text() == "the admin's setting\n"
    assert (root / "etc/demo-conf/edited.conf.dpkg-dist").read_text() == "shipped with 2.0-1\n"
    assert (root / UNTOUCHED).read_text() == "shipped with 2.0-1\n"
    assert any("--force-confold" in line for line in lines if line.startswith("$ dpkg "))
