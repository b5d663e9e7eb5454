"""Writes the commands of pyproject.toml's [project.scripts] into a bin directory, for the running Python.

`make up` / `make test` run it for .venv (`.venv/bin/convoyctl`): the code runs from the checkout (the
venv's convoy-repo.pth puts it on the path), so nothing needs building or installing. Each script is the
one pip writes for an entry point; it is rewritten only when it differs.

    python tools/console_scripts.py BIN_DIR
"""

from __future__ import annotations

import os
import sys
import tomllib
from pathlib import Path

__all__ = ["entry_points", "script_text", "write_scripts"]

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def entry_points(pyproject: Path = PYPROJECT) -> dict[str, str]:
    """Command name → "module:function", as [project.scripts] declares them."""
    with pyproject.open("rb") as handle:
        scripts: dict[str, str] = tomllib.load(handle).get("project", {}).get("scripts", {})
    return scripts


def script_text(interpreter: str, target: str) -> str:
    module, _, function = target.partition(":")
    if not module or not function.isidentifier():
        raise ValueError(f"entry point {target!r} is not module:function")
    return (
        f"#!{interpreter}\n"
        "import sys\n"
        f"from {module} import {function}\n"
        "if __name__ == '__main__':\n"
        f"    sys.exit({function}())\n"
    )


def write_scripts(bin_dir: Path, interpreter: str, pyproject: Path = PYPROJECT) -> list[Path]:
    """Writes (or refreshes) one executable script per entry point; the paths written."""
    written = []
    for name, target in entry_points(pyproject).items():
        path, text = bin_dir / name, script_text(interpreter, target)
        if path.is_file() and path.read_text() == text:
            continue
        temporary = path.with_name(f".{name}.tmp")
        temporary.write_text(text)
        temporary.chmod(0o755)
        os.replace(temporary, path)
        written.append(path)
    return written


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: console_scripts.py BIN_DIR", file=sys.stderr)
        return 2
    # sys.executable as given, not resolved: a venv's python is a symlink out of the venv.
    for path in write_scripts(Path(argv[0]), sys.executable):
        print(f"bootstrap: wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
