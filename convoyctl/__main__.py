"""`python -m convoyctl` and the `convoyctl` command."""

from __future__ import annotations

import sys

from convoyctl.cli import run

__all__ = ["main"]


def main() -> int:
    return run(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
