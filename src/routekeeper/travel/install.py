"""Unpack OSRM's binaries and profiles from an osrm-bindings wheel (the Makefile's install step).

``python -m routekeeper.travel.install WHEEL HOME`` writes ``HOME/bin/osrm-*`` and
``HOME/profiles/*.lua``. Only those two folders are taken: the Python bindings themselves are
not used (they need CPython 3.12 and we talk to ``osrm-routed`` over HTTP instead).
"""

from __future__ import annotations

import stat
import sys
import zipfile
from pathlib import Path, PurePosixPath

_BIN_PREFIX = PurePosixPath("osrm/bin")
_PROFILES_PREFIX = PurePosixPath("osrm/share/profiles")


def _target(member: str, home: Path) -> Path | None:
    """Where a wheel member goes under home, or None when it is not wanted."""
    path = PurePosixPath(member)
    if member.endswith("/") or ".." in path.parts:
        return None
    for prefix, folder in ((_BIN_PREFIX, "bin"), (_PROFILES_PREFIX, "profiles")):
        if path.is_relative_to(prefix):
            return home / folder / Path(*path.relative_to(prefix).parts)
    return None


def unpack(wheel: Path, home: Path) -> list[Path]:
    """Write the wheel's OSRM binaries (executable) and profiles under home; return the binaries."""
    binaries: list[Path] = []
    with zipfile.ZipFile(wheel) as archive:
        for member in archive.namelist():
            target = _target(member, home)
            if target is None:
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(archive.read(member))
            if target.parent == home / "bin":
                target.chmod(target.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
                binaries.append(target)
    if not any(b.name == "osrm-routed" for b in binaries):
        raise SystemExit(f"{wheel} holds no osrm/bin/osrm-routed")
    return binaries


def main(argv: list[str]) -> int:
    """Entry point: unpack WHEEL into HOME."""
    if len(argv) != 2:
        print("usage: python -m routekeeper.travel.install WHEEL HOME", file=sys.stderr)
        return 2
    binaries = unpack(Path(argv[0]), Path(argv[1]))
    print(f"OSRM: {len(binaries)} binaries in {Path(argv[1]) / 'bin'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
