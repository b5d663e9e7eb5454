"""Sandbox roots for the package tools, and packages with maintainer scripts, for agent and end-to-end tests.

Every script of these packages (deb preinst/postinst/prerm/postrm, rpm %pre/%post/%preun/%postun, tar
install.sh/uninstall.sh and hooks) appends one line per run to `<root>/var/log/<name>.scripts`, so a test
sees which scripts ran, in which order, and that nothing ran twice:

    deb   "<script> $1 <version>"                        "postinst configure 1.0-1", "prerm upgrade 1.0-1"
    rpm   "<scriptlet> $1 <version>-<release>"           "post 1 1.0-1", "preun 0 1.0-1"
    tar   "<script> <name> <version> <working directory>" "install web 1.0 /…/var/lib/convoy/tar/web/1.0"

Every script refuses to run outside a sandbox root, so a package built here can never write on the host:
deb scripts (run on the host by `dpkg --force-script-chrootless`) need a DPKG_ROOT other than "/", tar
scripts a CONVOY_ROOT other than "/", and rpm scriptlets (chrooted into the root) the mark that
`prepare_rpm_sandbox` leaves in it. The postinst, %post and install.sh fail while the flag file
`<root>/etc/<name>.fail` exists (`set_failing`), or always with `always_fail`; they log before failing."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.support.packages import build_deb, build_rpm, build_tarball

AGENT_DIR = Path(__file__).resolve().parents[2] / "agent"
if str(AGENT_DIR) not in sys.path:
    sys.path.insert(0, str(AGENT_DIR))

from convoy_agent.sandbox import RPM_DBPATH, prepare_deb_root, prepare_rpm_root  # noqa: E402

__all__ = [
    "AGENT_DIR",
    "deb_root",
    "rpm_root",
    "prepare_rpm_sandbox",
    "build_scripted_deb",
    "build_scripted_rpm",
    "build_scripted_tarball",
    "script_log",
    "set_failing",
    "dpkg_status",
    "rpm_versions",
]

# Chrooted scriptlets cannot see an environment variable of ours: they look for this file in the root.
RPM_SANDBOX_MARK = "etc/convoy-sandbox-root"


# --- sandbox roots -----------------------------------------------------------------------------------------


def deb_root(tmp_path: Path, name: str = "deb-root") -> Path:
    """An empty dpkg database under tmp_path/name."""
    root = tmp_path / name
    prepare_deb_root(str(root))
    return root


def prepare_rpm_sandbox(root: Path) -> None:
    """The agent's rpm root (database, /bin/sh with its libraries, /dev/null) plus the mark that lets the
    scriptlets of `build_scripted_rpm` run in it."""
    prepare_rpm_root(str(root))
    mark = root / RPM_SANDBOX_MARK
    mark.parent.mkdir(parents=True, exist_ok=True)
    mark.write_text("a sandbox root of the test suite\n")


def rpm_root(tmp_path: Path, name: str = "rpm-root") -> Path:
    """An rpm sandbox root (`prepare_rpm_sandbox`) under tmp_path/name."""
    root = tmp_path / name
    prepare_rpm_sandbox(root)
    return root


def script_log(root: Path, name: str) -> list[str]:
    """The lines the package's scripts appended under `root`, in order (empty when none ran)."""
    path = root / "var" / "log" / f"{name}.scripts"
    return path.read_text().splitlines() if path.exists() else []


def set_failing(root: Path, name: str, failing: bool = True) -> None:
    """Makes the package's postinst / %post / install.sh fail in `root` (or succeed again)."""
    flag = root / "etc" / f"{name}.fail"
    if failing:
        flag.parent.mkdir(parents=True, exist_ok=True)
        flag.write_text("fail\n")
    else:
        flag.unlink(missing_ok=True)


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
        ["rpm", "--root", str(root), "--dbpath", RPM_DBPATH, "-q", "--qf", "%{VERSION}-%{RELEASE}\n", name],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "LC_ALL": "C"},
    )
    return result.stdout.split() if result.returncode == 0 else []


# --- the scripts -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Dialect:
    """How a package format's scripts see the sandbox root."""

    root: str  # the root as a shell expression ("" for rpm: its scriptlets run chrooted into it)
    inside: str  # a shell condition that holds inside a sandbox root only
    refusal: str

    def script(
        self, name: str, word: str, line: str, *, can_fail: bool = False, always_fail: bool = False
    ) -> str:
        """The body of a script: the guard, the log line and, for the script that `can_fail`, the failure
        (always, or while the package's flag file exists)."""
        log = f"{self.root}/var/log"
        text = f'{self.inside} || {{ echo "{self.refusal}" >&2; exit 1; }}\n'
        if self.root:  # a tar root may be a bare directory; the rpm chroot has no mkdir
            text += f'mkdir -p "{log}"\n'
        text += f'echo "{line}" >> "{log}/{name}.scripts"\n'
        if can_fail and always_fail:
            text += f'echo "{word} fails on purpose" >&2\nexit 1\n'
        elif can_fail:
            flag = f"/etc/{name}.fail"
            text += (
                f'if [ -e "{self.root}{flag}" ]; then echo "{word} fails: {flag} exists" >&2; exit 1; fi\n'
            )
        return text


_DEB = _Dialect(
    "$DPKG_ROOT",
    '[ -n "$DPKG_ROOT" ] && [ "$DPKG_ROOT" != "/" ]',
    "DPKG_ROOT is unset or /: refusing to run on the host",
)
_RPM = _Dialect("", f"[ -e /{RPM_SANDBOX_MARK} ]", "not in a sandbox root: refusing to run on the host")
_TAR = _Dialect(
    "$CONVOY_ROOT",
    '[ -n "$CONVOY_ROOT" ] && [ "$CONVOY_ROOT" != "/" ]',
    "CONVOY_ROOT is unset or /: refusing to run on the host",
)
_SHEBANG = "#!/bin/sh\nset -e\n"


# --- packages ----------------------------------------------------------------------------------------------


def build_scripted_deb(
    tmp_path: Path,
    name: str,
    version: str,
    *,
    depends: str = "",
    always_fail: bool = False,
    payload_bytes: int = 0,
) -> Path:
    """A real .deb (`build_deb`) with preinst/postinst/prerm/postrm that log and refuse to run without
    DPKG_ROOT, a file /usr/share/<name>/VERSION and, with `payload_bytes`, a random payload.bin of that size
    (stored uncompressed). The postinst fails while `set_failing` holds, or always with `always_fail`."""
    scripts = {
        script: _SHEBANG
        + _DEB.script(
            name, script, f"{script} $1 {version}", can_fail=script == "postinst", always_fail=always_fail
        )
        for script in ("preinst", "postinst", "prerm", "postrm")
    }
    return build_deb(
        tmp_path,
        name,
        version,
        depends=depends,
        description="A test package with maintainer scripts\n Built by the test suite.",
        payload_bytes=payload_bytes,
        compression="none" if payload_bytes else "xz",
        scripts=scripts,
    )


def build_scripted_rpm(
    tmp_path: Path, name: str, version: str, release: str = "1", *, always_fail: bool = False
) -> Path:
    """A real noarch rpm (`build_rpm`) with a file /opt/<name>/VERSION and %pre/%post/%preun/%postun that
    log and refuse to run outside a `prepare_rpm_sandbox` root (shell builtins only: the root has nothing
    but /bin/sh). %post fails while `set_failing` holds, or always with `always_fail`."""
    scripts = {
        tag: _RPM.script(
            name, tag, f"{tag} $1 {version}-{release}", can_fail=tag == "post", always_fail=always_fail
        )
        for tag in ("pre", "post", "preun", "postun")
    }
    return build_rpm(
        tmp_path, name, version, release, summary="A test package with scriptlets", scripts=scripts
    )


def build_scripted_tarball(
    tmp_path: Path,
    name: str,
    version: str,
    *,
    uninstall: bool = True,
    hooks: bool = False,
    always_fail: bool = False,
) -> Path:
    """A tar package (with convoy.json) whose install.sh copies its VERSION file to
    $CONVOY_ROOT/opt/<name>/VERSION and whose uninstall.sh (unless `uninstall` is off) removes that
    directory; with `hooks`, hooks/pre.sh and hooks/post.sh that only log. All of them refuse to run without
    a CONVOY_ROOT other than "/"; install.sh fails while `set_failing` holds, or always with `always_fail`."""

    def script(word: str, then: str = "") -> str:
        line = f"{word} $CONVOY_PACKAGE_NAME $CONVOY_PACKAGE_VERSION $(pwd)"
        return (
            _SHEBANG
            + _TAR.script(name, word, line, can_fail=word == "install", always_fail=always_fail)
            + then
        )

    target = f'"$CONVOY_ROOT/opt/{name}"'
    files: dict[str, str | bytes] = {
        "install.sh": script("install", f"mkdir -p {target}\ncp VERSION {target}/VERSION\n"),
        "VERSION": f"{version}\n",
    }
    if uninstall:
        files["uninstall.sh"] = script("uninstall", f"rm -rf {target}\n")
    if hooks:
        files["hooks/pre.sh"] = script("pre")
        files["hooks/post.sh"] = script("post")
    return build_tarball(tmp_path, name, version, files)
