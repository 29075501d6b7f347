"""The day's road figures between every point seen so far, grown as new points arrive.

Planning asks for the matrix of all its points, then estimates each route over a subset; a
re-plan later that day asks again for mostly the same points. Keeping one growing square of
figures (float32 metres and seconds, NaN where there is no road) turns those into lookups and
only the rows and columns of new points into OSRM requests. Road data does not change while a
server runs, but the cache still starts afresh each day so it cannot grow for ever.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date

import numpy as np
import numpy.typing as npt

from routekeeper.travel.base import LonLat

Fetch = Callable[[Sequence[LonLat], Sequence[LonLat]],
                 tuple[npt.NDArray[np.float64], npt.NDArray[np.float64],
                       npt.NDArray[np.float64], npt.NDArray[np.float64]]]
"""(origins, destinations) -> (metres, seconds, origin snap metres, destination snap metres)."""


class DayMatrixCache:
    """A growing square of road figures between the points seen today (not thread-safe)."""

    def __init__(self, max_points: int) -> None:
        """Keep at most max_points points; a larger request starts the cache afresh."""
        self.max_points = max_points
        self.day: date | None = None
        self._index: dict[LonLat, int] = {}
        self._distance = np.empty((0, 0), dtype=np.float32)
        self._duration = np.empty((0, 0), dtype=np.float32)
        self._snap = np.empty(0, dtype=np.float64)
        self.requests = 0

    def __len__(self) -> int:
        return len(self._index)

    def clear(self, day: date | None = None) -> None:
        """Forget every point (and start the given day)."""
        self.day = day
        self._index = {}
        self._distance = np.empty((0, 0), dtype=np.float32)
        self._duration = np.empty((0, 0), dtype=np.float32)
        self._snap = np.empty(0, dtype=np.float64)

    def figures(
        self, points: Sequence[LonLat], *, today: date, fetch: Fetch
    ) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float32], npt.NDArray[np.float32],
               npt.NDArray[np.float64]] | None:
        """Indexes of points into the square and the square (metres, seconds, snap metres).

        Fetches what is missing first; returns None when the points alone exceed max_points.
        """
        if today != self.day:
            self.clear(today)
        keys = [(float(p[0]), float(p[1])) for p in points]
        new = list(dict.fromkeys(k for k in keys if k not in self._index))
        if len(self._index) + len(new) > self.max_points:
            if len(dict.fromkeys(keys)) > self.max_points:
                return None
            self.clear(today)
            new = list(dict.fromkeys(keys))
        if new:
            self._grow(new, fetch)
        indexes = np.fromiter((self._index[k] for k in keys), dtype=np.intp, count=len(keys))
        return indexes, self._distance, self._duration, self._snap

    def _grow(self, new: list[LonLat], fetch: Fetch) -> None:
        """Add the rows and columns of new points: new x all, then old x new."""
        old = list(self._index)
        size = len(old) + len(new)
        distance = np.full((size, size), np.nan, dtype=np.float32)
        duration = np.full((size, size), np.nan, dtype=np.float32)
        snap = np.zeros(size, dtype=np.float64)
        k = len(old)
        distance[:k, :k] = self._distance
        duration[:k, :k] = self._duration
        snap[:k] = self._snap
        every = old + new
        metres, seconds, new_snap, _ = fetch(new, every)
        self.requests += 1
        distance[k:, :] = metres
        duration[k:, :] = seconds
        snap[k:] = new_snap
        if old:
            metres, seconds, _, _ = fetch(old, new)
            self.requests += 1
            distance[:k, k:] = metres
            duration[:k, k:] = seconds
        # Only now is the cache changed: a failed fetch above leaves it as it was.
        for offset, key in enumerate(new):
            self._index[key] = k + offset
        self._distance, self._duration, self._snap = distance, duration, snap
