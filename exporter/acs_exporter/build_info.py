"""What `acs-exporter --version` says: the version, the commit and the build date.

The version is the package's (pyproject.toml, read back through its metadata). The commit and
date come from, in this order:

1. a stamp, `build_info.json` beside this module, which the image build writes with
   `python -m acs_exporter.build_info --revision SHA --built DATE` (the Dockerfile passes its
   REVISION and CREATED arguments, set by the release workflow);
2. for a source checkout (an editable install), `git rev-parse HEAD` when git is there; a
   checkout has no build date;
3. else "unknown".
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from acs_exporter import __version__

PACKAGE_DIR = Path(__file__).resolve().parent
STAMP = PACKAGE_DIR / "build_info.json"
UNKNOWN = "unknown"
REVISION = re.compile(r"[0-9a-f]{7,64}")


class BuildInfoError(ValueError):
    """A stamp or a value for it that is not what the image build writes."""


@dataclass(frozen=True)
class BuildInfo:
    version: str
    revision: str = UNKNOWN
    built: str = UNKNOWN

    def version_line(self) -> str:
        """node_exporter's shape: `NAME, version V (revision: R, built: D)`."""
        return (
            f"acs-exporter, version {self.version} (revision: {self.revision}, built: {self.built})"
        )


def checked_revision(value: str) -> str:
    if value != UNKNOWN and not REVISION.fullmatch(value):
        raise BuildInfoError(f"revision {value[:80]!r} is not a git commit id (7-64 hex digits)")
    return value


def checked_built(value: str) -> str:
    if value != UNKNOWN:
        try:
            datetime.fromisoformat(value)
        except ValueError:
            raise BuildInfoError(
                f"build date {value[:80]!r} is not an ISO 8601 date (e.g. 2026-12-01T14:00:00Z)"
            ) from None
    return value


def read_stamp(path: Path = STAMP) -> BuildInfo | None:
    """The stamp's build info; None without one; BuildInfoError naming the file if it is bad."""
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BuildInfoError(f"{path}: unreadable build stamp: {exc}") from None
    if not isinstance(loaded, dict) or set(loaded) != {"revision", "built"}:
        raise BuildInfoError(f"{path}: expected an object with exactly `revision` and `built`")
    try:
        return BuildInfo(
            __version__,
            checked_revision(str(loaded["revision"])),
            checked_built(str(loaded["built"])),
        )
    except BuildInfoError as exc:
        raise BuildInfoError(f"{path}: {exc}") from None


def git_revision(package_dir: Path = PACKAGE_DIR) -> str:
    """HEAD of the checkout this package runs from, or "unknown" (no git, or the package is
    installed elsewhere: a site-packages inside some other repository is not our commit)."""
    try:
        result = subprocess.run(
            ["git", "-C", str(package_dir), "rev-parse", "--show-toplevel", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return UNKNOWN
    lines = result.stdout.split()
    if result.returncode != 0 or len(lines) != 2:
        return UNKNOWN
    toplevel, head = lines
    if Path(toplevel).resolve() / "exporter" / "acs_exporter" != package_dir.resolve():
        return UNKNOWN
    return head if REVISION.fullmatch(head) else UNKNOWN


def current(stamp: Path = STAMP, package_dir: Path = PACKAGE_DIR) -> BuildInfo:
    return read_stamp(stamp) or BuildInfo(__version__, git_revision(package_dir))


def write_stamp(revision: str, built: str, path: Path = STAMP) -> None:
    stamp = {"revision": checked_revision(revision), "built": checked_built(built)}
    path.write_text(json.dumps(stamp) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """`python -m acs_exporter.build_info --revision SHA --built DATE`: the image build's step."""
    parser = argparse.ArgumentParser(
        prog="python -m acs_exporter.build_info",
        description="Record the commit and build date that `acs-exporter --version` shows.",
    )
    parser.add_argument("--revision", required=True, help="git commit id, or 'unknown'")
    parser.add_argument("--built", required=True, help="ISO 8601 build date, or 'unknown'")
    parser.add_argument(
        "--stamp", type=Path, default=STAMP, help="file to write (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    try:
        write_stamp(args.revision, args.built, args.stamp)
    except BuildInfoError as exc:
        parser.error(str(exc))
    print(current(args.stamp).version_line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
