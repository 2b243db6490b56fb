"""``python -m trilho.datasets [FOLDER]``: print where a shipped folder lies (every folder without one)."""

from __future__ import annotations

import sys

from trilho.datasets import DatasetError, folders, path


def main(argv: list[str] | None = None) -> int:
    """Print the folder's path; exit 2 naming the folders that exist when it is not one of them."""
    args = sys.argv[1:] if argv is None else argv
    try:
        for name in args or folders():
            print(path(name))
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
