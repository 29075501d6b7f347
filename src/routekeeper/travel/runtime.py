"""Which travel model a process uses, and the osrm-routed child it may have to run.

- ``routing.osrm_url``: an external OSRM server (the road model talks to it).
- ``routing.dataset``: a dataset made by ``routekeeper roads prepare``; osrm-routed runs on
  loopback as a supervised child of this process.
- neither: the straight-line model, and the log and ``/health`` say so.
"""

from __future__ import annotations

import logging
from typing import Any

from routekeeper.settings import RoutingSettings
from routekeeper.travel.base import TravelModel
from routekeeper.travel.dataset import OsrmTools, resolve
from routekeeper.travel.osrm import OsrmModel
from routekeeper.travel.road import RoadModel
from routekeeper.travel.straight import StraightLineModel
from routekeeper.travel.supervisor import RoutedSupervisor

log = logging.getLogger(__name__)


class TravelRuntime:
    """The process's travel model and, for a local dataset, its osrm-routed child."""

    def __init__(self, routing: RoutingSettings) -> None:
        """Choose the model from the settings; a local dataset is resolved but not started."""
        straight = StraightLineModel(detour_factor=routing.detour_factor,
                                     speed_kmh=routing.speed_kmh)
        self.supervisor: RoutedSupervisor | None = None
        self.source = "straight_line"
        self.model: TravelModel = straight
        osrm: OsrmModel | None = None
        if routing.osrm_url:
            self.source = "osrm_url"
            osrm = OsrmModel(routing.osrm_url, profile=routing.osrm_profile,
                             timeout_s=routing.osrm_timeout_s,
                             max_table_size=routing.osrm_max_table_size)
        elif routing.dataset is not None:
            self.source = "dataset"
            base = resolve(routing.dataset)
            self.supervisor = RoutedSupervisor(
                OsrmTools(routing.osrm_home).binary("osrm-routed"), base,
                algorithm=routing.osrm_algorithm, port=routing.osrm_port,
                max_table_size=routing.routed_max_table_size)
            # The real port is known once the child runs; start() points the client at it.
            osrm = OsrmModel("http://127.0.0.1:1", profile=routing.osrm_profile,
                             timeout_s=routing.osrm_timeout_s,
                             max_table_size=routing.routed_max_table_size)
        self.osrm = osrm
        if osrm is not None:
            self.model = RoadModel(osrm, straight, max_snap_m=routing.max_snap_m,
                                   cache_points=routing.matrix_cache_points)

    def start(self) -> None:
        """Start osrm-routed when this process runs it; log which model is in use."""
        if self.supervisor is not None and self.osrm is not None:
            self.supervisor.on_url = self._point_at
            self.supervisor.start()
            self._point_at(self.supervisor.url)
        if self.source == "straight_line":
            log.warning("no road network configured (routing.dataset or routing.osrm_url): "
                        "travel uses the straight-line model")
        else:
            log.info("travel uses the road network (%s)", self.source)

    def _point_at(self, url: str) -> None:
        if self.osrm is not None:
            self.osrm.base_url = url

    def stop(self) -> None:
        """Stop osrm-routed if this process runs it."""
        if self.supervisor is not None:
            self.supervisor.stop()
        if self.osrm is not None:
            self.osrm.close()

    def health(self) -> dict[str, Any]:
        """What /health reports about travel: the model and whether its engine runs."""
        report: dict[str, Any] = {"model": "road" if self.osrm is not None else "straight_line",
                                  "source": self.source}
        if self.supervisor is not None:
            report["engine"] = "running" if self.supervisor.running() else "restarting"
        return report
