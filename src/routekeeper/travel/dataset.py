"""Road-network datasets: build one from an OpenStreetMap extract with OSRM's own tools.

A dataset is a folder holding ``<name>.osrm*`` (the files of osrm-extract, osrm-partition,
osrm-customize and osrm-contract, so osrm-routed can serve it with ``--algorithm mld`` or
``ch``) and ``dataset.json`` describing what it was built from.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

PROFILES = ("car", "bicycle", "foot")
MANIFEST = "dataset.json"

# osrm-extract's default (1,000 nodes) treats every strongly connected part of a city extract
# cut at its edges as "small", and then each snap searches the whole index for a big one that
# does not exist: 0.3 ms per coordinate, 0.3 s for a 1 x 1,000 table. 200 still keeps points
# off parking lots and private yards.
SMALL_COMPONENT_SIZE = 200

_STEP_TIMEOUT_S = 1800.0


class DatasetError(RuntimeError):
    """A dataset could not be built or found."""


@dataclass(frozen=True, slots=True)
class OsrmTools:
    """Where the installed OSRM binaries and profiles are."""

    home: Path

    def binary(self, name: str) -> Path:
        """The path of one OSRM binary, or DatasetError when it is not installed."""
        path = self.home.resolve() / "bin" / name
        if not path.is_file():
            raise DatasetError(
                f"{path} not found: run `make install` (it unpacks OSRM into {self.home})")
        return path

    def profile(self, name: str) -> Path:
        """The Lua profile for car, bicycle or foot."""
        if name not in PROFILES:
            raise DatasetError(f"unknown profile {name!r}: one of {', '.join(PROFILES)}")
        path = self.home.resolve() / "profiles" / f"{name}.lua"
        if not path.is_file():
            raise DatasetError(f"{path} not found: run `make install`")
        return path


def _run(command: list[str], cwd: Path) -> None:
    """Run one OSRM step, raising DatasetError with the tail of its output when it fails."""
    started = time.monotonic()
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True,
                            timeout=_STEP_TIMEOUT_S, check=False)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-5:])
        raise DatasetError(f"{Path(command[0]).name} failed ({result.returncode}):\n{tail}")
    log.info("%s done in %.1f s", Path(command[0]).name, time.monotonic() - started)


def prepare(pbf: Path, *, profile: str, out: Path, tools: OsrmTools,
            small_component_size: int = SMALL_COMPONENT_SIZE) -> Path:
    """Build the dataset of ``pbf`` for ``profile`` into ``out`` and return its .osrm path."""
    if not pbf.is_file():
        raise DatasetError(f"{pbf} is not a file")
    pbf, out = pbf.resolve(), out.resolve()
    lua = tools.profile(profile)
    binaries = {name: tools.binary(name) for name in
                ("osrm-extract", "osrm-partition", "osrm-customize", "osrm-contract")}
    name = pbf.name.split(".")[0] or "roads"
    # Build next to the destination and swap it in at the end: a server reading the old
    # dataset never sees half-written files, and a failed build leaves the old one intact.
    out.parent.mkdir(parents=True, exist_ok=True)
    work = out.with_name(out.name + ".building")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    try:
        shutil.copyfile(pbf, work / f"{name}.osm.pbf")
        base = f"{name}.osrm"
        _run([str(binaries["osrm-extract"]), "-p", str(lua),
              "--small-component-size", str(small_component_size), f"{name}.osm.pbf"], work)
        (work / f"{name}.osm.pbf").unlink()
        _run([str(binaries["osrm-partition"]), base], work)
        _run([str(binaries["osrm-customize"]), base], work)
        _run([str(binaries["osrm-contract"]), base], work)
        manifest = {"name": name, "profile": profile, "source": str(pbf),
                    "source_bytes": pbf.stat().st_size, "algorithms": ["mld", "ch"],
                    "small_component_size": small_component_size,
                    "prepared_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        (work / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        shutil.rmtree(out, ignore_errors=True)
        work.rename(out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return out / base


def resolve(dataset: Path) -> Path:
    """The .osrm base path of a dataset given as its folder or as that base path."""
    dataset = dataset.resolve()
    if dataset.is_dir():
        manifest = dataset / MANIFEST
        try:
            name = json.loads(manifest.read_text())["name"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise DatasetError(f"{dataset} has no readable {MANIFEST}: prepare it with "
                               "`routekeeper roads prepare`") from exc
        base = dataset / f"{name}.osrm"
    else:
        base = dataset
    # Every algorithm needs the extract's .osrm.ebg_nodes; its absence means no dataset.
    if not base.with_name(base.name + ".ebg_nodes").is_file():
        raise DatasetError(f"{base} is not a prepared OSRM dataset")
    return base
