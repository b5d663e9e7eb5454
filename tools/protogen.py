"""Generates the Python protobuf and gRPC modules in gen/ from proto/, or checks that gen/ is current."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import grpc_tools
from grpc_tools import protoc

REPO_ROOT = Path(__file__).resolve().parent.parent
WELL_KNOWN_PROTOS = Path(grpc_tools.__file__).parent / "_proto"
README = """# gen/

Python modules generated from `proto/` by `make proto` (`tools/protogen.py`). Never edit anything here by
hand: change the `.proto` file and regenerate. `tools/protogen.py --check` fails when this folder is stale.
"""


def run_protoc(proto_dir: Path, out_dir: Path) -> None:
    """Compiles every .proto under proto_dir into out_dir."""
    sources = sorted(str(path) for path in proto_dir.rglob("*.proto"))
    args = [
        "protoc",
        f"--proto_path={proto_dir}",
        f"--proto_path={WELL_KNOWN_PROTOS}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *sources,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")


def generate(proto_dir: Path, out_dir: Path) -> None:
    """Writes the complete contents of gen/ into the empty directory out_dir."""
    run_protoc(proto_dir, out_dir)
    for package in [out_dir / "convoy", *(out_dir / "convoy").rglob("*")]:
        if package.is_dir():
            (package / "__init__.py").touch()
    (out_dir / "README.md").write_text(README)


def tree(root: Path) -> dict[str, bytes]:
    """Relative path → contents of every file under root, bytecode caches left out."""
    if not root.is_dir():
        return {}
    files = (path for path in root.rglob("*") if path.is_file() and "__pycache__" not in path.parts)
    return {path.relative_to(root).as_posix(): path.read_bytes() for path in files}


def differences(expected: dict[str, bytes], actual: dict[str, bytes]) -> list[str]:
    """One line per file that is stale, missing or extra in actual."""
    lines = [f"stale:   {name}" for name in expected if name in actual and actual[name] != expected[name]]
    lines += [f"missing: {name}" for name in expected if name not in actual]
    lines += [f"extra:   {name}" for name in actual if name not in expected]
    return sorted(lines, key=lambda line: line.split()[1])


def check(root: Path) -> int:
    """Regenerates into a scratch directory and reports how gen/ differs from it."""
    with tempfile.TemporaryDirectory(prefix="protogen-") as scratch:
        generate(root / "proto", Path(scratch))
        lines = differences(tree(Path(scratch)), tree(root / "gen"))
    for line in lines:
        print(line)
    print(f"gen/ is stale: run make proto ({len(lines)} files)" if lines else "gen/ is up to date")
    return 1 if lines else 0


def remove_extras(gen: Path, keep: set[str]) -> None:
    """Deletes whatever else sits at the top of gen/, since all of it is generated."""
    for entry in gen.iterdir():
        if entry.name in keep:
            continue
        if entry.is_dir():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def write(root: Path) -> int:
    """Regenerates gen/, swapping the new tree in so that stale files disappear with the old one."""
    gen = root / "gen"
    gen.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".protogen-", dir=gen) as scratch:
        fresh, old = Path(scratch) / "new", Path(scratch) / "old"
        fresh.mkdir()
        generate(root / "proto", fresh)
        if (gen / "convoy").exists():
            (gen / "convoy").rename(old)
        (fresh / "convoy").rename(gen / "convoy")
        shutil.copyfile(fresh / "README.md", gen / "README.md")
        remove_extras(gen, keep={"convoy", "README.md", Path(scratch).name})
    print(f"generated {gen}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if gen/ is not what protoc would write")
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help="directory holding proto/ and gen/")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    return check(root) if args.check else write(root)


if __name__ == "__main__":
    sys.exit(main())
