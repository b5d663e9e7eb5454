"""Sandbox roots for the package tools and packages with maintainer scripts, for agent tests.

Every maintainer script appends a line to <root>/tmp/<name>.log ("postinst configure 1.0", "prerm remove",
"post 1", "install 1.0", …), so a test can tell which scripts ran. A script fails while the flag file
<root>/etc/<name>.fail exists, so a test can make one install fail and then let recovery succeed."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

from tests.support.packages import build_tarball

AGENT_DIR = Path(__file__).resolve().parents[2] / "agent"
if str(AGENT_DIR) not in sys.path:
    sys.path.insert(0, str(AGENT_DIR))

from convoy_agent.sandbox import prepare_deb_root, prepare_rpm_root  # noqa: E402

__all__ = [
    "AGENT_DIR",
    "deb_root",
    "rpm_root",
    "build_scripted_deb",
    "build_scripted_rpm",
    "build_scripted_tarball",
    "script_log",
    "set_failing",
    "dpkg_status",
    "rpm_versions",
]


def _workdir(tmp_path: Path, prefix: str) -> Path:
    directory = tmp_path / f"{prefix}-{uuid.uuid4().hex[:8]}"
    directory.mkdir(parents=True)
    return directory


def deb_root(tmp_path: Path, name: str = "deb-root") -> Path:
    """An empty dpkg database under tmp_path/name."""
    root = tmp_path / name
    prepare_deb_root(str(root))
    return root


def rpm_root(tmp_path: Path, name: str = "rpm-root") -> Path:
    """An initialised rpm database, /bin/sh with its libraries and /dev/null under tmp_path/name."""
    root = tmp_path / name
    prepare_rpm_root(str(root))
    return root


def script_log(root: Path, name: str) -> list[str]:
    """The lines the package's maintainer scripts wrote, in order."""
    path = root / "tmp" / f"{name}.log"
    return path.read_text().splitlines() if path.exists() else []


def set_failing(root: Path, name: str, failing: bool = True) -> None:
    """Makes the package's postinst / %post / install.sh fail (or succeed again)."""
    flag = root / "etc" / f"{name}.fail"
    if failing:
        flag.parent.mkdir(parents=True, exist_ok=True)
        flag.write_text("fail\n")
    else:
        flag.unlink(missing_ok=True)


def build_scripted_deb(
    tmp_path: Path, name: str, version: str, *, depends: str = "", always_fail: bool = False
) -> Path:
    """A .deb with postinst and prerm that log under $DPKG_ROOT/tmp; postinst fails while the flag is set
    (or always, with `always_fail`)."""
    work = _workdir(tmp_path, "sdeb")
    root = work / "root"
    (root / "DEBIAN").mkdir(parents=True)
    fields = [
        f"Package: {name}",
        f"Version: {version}",
        "Architecture: all",
        "Maintainer: Convoy Tests <tests@example.com>",
    ]
    if depends:
        fields.append(f"Depends: {depends}")
    fields.append("Description: A test package with maintainer scripts")
    (root / "DEBIAN" / "control").write_text("\n".join(fields) + "\n")
    fail = "exit 1" if always_fail else f'[ ! -e "$DPKG_ROOT/etc/{name}.fail" ] || exit 1'
    scripts = {
        "postinst": f'echo "postinst $1 {version}" >> "$DPKG_ROOT/tmp/{name}.log"\n{fail}\n',
        "prerm": f'echo "prerm $1 {version}" >> "$DPKG_ROOT/tmp/{name}.log"\n',
    }
    for script, body in scripts.items():
        path = root / "DEBIAN" / script
        path.write_text("#!/bin/sh\nset -e\n" + body)
        path.chmod(0o755)
    share = root / "usr" / "share" / name
    share.mkdir(parents=True)
    (share / "VERSION").write_text(f"{version}\n")
    out = work / f"{name}_{version}_all.deb"
    command = ["dpkg-deb", "--root-owner-group", "--build", str(root), str(out)]
    subprocess.run(command, check=True, capture_output=True, timeout=60)
    return out


def build_scripted_rpm(tmp_path: Path, name: str, version: str, release: str = "1") -> Path:
    """A noarch rpm with %post and %preun scriptlets that log to /tmp/<name>.log inside the (chroot) root;
    %post fails while the flag is set. Only shell builtins: the sandbox root has nothing but /bin/sh."""
    work = _workdir(tmp_path, "srpm")
    spec = work / f"{name}.spec"
    spec.write_text(
        textwrap.dedent(
            f"""\
            Name: {name}
            Version: {version}
            Release: {release}
            Summary: A test package with scriptlets
            License: MIT
            BuildArch: noarch
            AutoReqProv: no

            %description
            A test package with scriptlets.

            %install
            mkdir -p %{{buildroot}}/opt/{name}
            echo {version} > %{{buildroot}}/opt/{name}/VERSION

            %post
            echo "post $1 {version}" >> /tmp/{name}.log
            [ ! -e /etc/{name}.fail ] || exit 1

            %preun
            echo "preun $1 {version}" >> /tmp/{name}.log

            %files
            /opt/{name}/VERSION
            """
        )
    )
    top = work / "rpmbuild"
    command = ["rpmbuild", "--define", f"_topdir {top}", "--define", "_build_id_links none", "-bb", str(spec)]
    subprocess.run(command, check=True, capture_output=True, timeout=120)
    (built,) = (top / "RPMS").rglob("*.rpm")
    return built


def build_scripted_tarball(tmp_path: Path, name: str, version: str, *, uninstall: bool = True) -> Path:
    """A tar package whose install.sh writes $CONVOY_ROOT/opt/<name>/VERSION (failing while the flag is
    set) and whose uninstall.sh removes it; both log to $CONVOY_ROOT/tmp/<name>.log."""
    log = f'"$CONVOY_ROOT/tmp/{name}.log"'
    files: dict[str, str | bytes] = {
        "install.sh": textwrap.dedent(
            f"""\
            #!/bin/sh
            set -e
            mkdir -p "$CONVOY_ROOT/tmp"
            echo "install $CONVOY_PACKAGE_NAME $CONVOY_PACKAGE_VERSION $(pwd)" >> {log}
            [ ! -e "$CONVOY_ROOT/etc/{name}.fail" ] || exit 1
            mkdir -p "$CONVOY_ROOT/opt/{name}"
            cp payload.txt "$CONVOY_ROOT/opt/{name}/VERSION"
            """
        ),
        "payload.txt": f"{version}\n",
    }
    if uninstall:
        files["uninstall.sh"] = textwrap.dedent(
            f"""\
            #!/bin/sh
            set -e
            echo "uninstall $CONVOY_PACKAGE_NAME $CONVOY_PACKAGE_VERSION" >> {log}
            rm -rf "$CONVOY_ROOT/opt/{name}"
            """
        )
    return build_tarball(tmp_path, name, version, files)


def dpkg_status(root: Path, name: str) -> tuple[str, str] | None:
    """(status words, version) as dpkg-query reports them in the root, None when unknown."""
    result = subprocess.run(
        ["dpkg-query", f"--root={root}", "-W", "-f=${Status}\t${Version}", name],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if result.returncode != 0:
        return None
    status, version = result.stdout.split("\t")
    return status, version


def rpm_versions(root: Path, name: str) -> list[str]:
    """Every version-release of `name` the root's rpm database holds (normally zero or one)."""
    result = subprocess.run(
        [
            "rpm",
            "--root",
            str(root),
            "--dbpath",
            "/var/lib/rpm",
            "-q",
            "--qf",
            "%{VERSION}-%{RELEASE}\n",
            name,
        ],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "LC_ALL": "C"},
    )
    return result.stdout.split() if result.returncode == 0 else []
