"""Group commit of uploads: the uploads of one process are written together, not one by one.

Phones send one fix per request, thousands of them a second across a fleet. Written one by
one, every request costs a transaction of its own (a pooled connection, a handful of round
trips, a commit that waits for the disk) and a worker thread parked on all of that. Here
each request hands its upload to the process's writer thread and awaits the answer; the
writer takes everything that arrived while it was writing the previous group and writes it
in one transaction (``ingest.ingest_group``). Nothing is answered before its group commits,
so a 200 still means "stored durably"; under light load a group is one upload and nothing
waits longer than before.

A group holds each device at most once (a device's second upload waits for the next group),
so every device's fixes are screened against its newest stored position, in order. When a
group fails as a whole (the database refuses it), its uploads are written again one by one,
so only the upload at fault gets the error.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field

from routekeeper.accounts.limits import Guard
from routekeeper.db.engine import Database
from routekeeper.settings import Settings
from routekeeper.tracking import keys
from routekeeper.tracking.engine.fixes import Fix
from routekeeper.tracking.ingest import (
    Collision,
    DeviceRef,
    KeyCredential,
    Outcome,
    Upload,
    ingest_group,
)
from routekeeper.tracking.schemas import IngestResult

log = logging.getLogger(__name__)


@dataclass
class _Waiting:
    upload: Upload
    answer: Future[IngestResult] = field(default_factory=Future)

    def identity(self) -> tuple[str, ...]:
        """What a group may hold once: the key as sent, or the device named."""
        device = self.upload.device
        if isinstance(device, KeyCredential):
            return ("key", device.key)
        return ("device", device.account_id, device.device_id)

    def settle(self, outcome: Outcome | BaseException) -> None:
        if isinstance(outcome, IngestResult):
            self.answer.set_result(outcome)
        else:
            self.answer.set_exception(outcome)


class UploadWriter:
    """The writer thread of a process and the uploads waiting for it."""

    def __init__(self, db: Database, settings: Settings, guard: Guard) -> None:
        self.db = db
        self.settings = settings
        self.guard = guard
        self.keys = keys.KeyCache(settings.tracking.key_cache_s)
        self.max_group = settings.tracking.upload_group
        self._waiting: deque[_Waiting] = deque()
        self._ready = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None

    def submit(self, device: KeyCredential | DeviceRef, fixes: list[Fix], *,
               address: str | None = None) -> Future[IngestResult]:
        """Queue an upload; its future holds the answer once its group committed (or the
        ``ApiError`` it was refused with)."""
        waiting = _Waiting(Upload(device, fixes, address))
        with self._ready:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="rk-uploads",
                                                daemon=True)
                self._thread.start()
            self._waiting.append(waiting)
            self._ready.notify()
        return waiting.answer

    @property
    def queued(self) -> int:
        """How many uploads wait for a group."""
        with self._ready:
            return len(self._waiting)

    def _take(self) -> list[_Waiting]:
        """The next group: the longest waiting uploads, each key or device once."""
        group: list[_Waiting] = []
        seen: set[tuple[str, ...]] = set()
        later: list[_Waiting] = []
        while self._waiting and len(group) < self.max_group:
            waiting = self._waiting.popleft()
            identity = waiting.identity()
            if identity in seen:
                later.append(waiting)
            else:
                seen.add(identity)
                group.append(waiting)
        self._waiting.extendleft(reversed(later))
        return group

    def _loop(self) -> None:
        while True:
            with self._ready:
                while not self._waiting and not self._stopping:
                    self._ready.wait()
                if not self._waiting:
                    return
                group = self._take()
            self._write(group)

    def _write(self, group: list[_Waiting]) -> None:
        try:
            outcomes = ingest_group(self.db, self.settings, self.guard, self.keys,
                                    [waiting.upload for waiting in group])
        except Collision:
            self._one_by_one(group)
            return
        except Exception as exc:
            if len(group) == 1:
                group[0].settle(exc)  # the request raises it, as if it had written itself
                return
            log.warning("a group of %d uploads failed; writing them one by one", len(group),
                        exc_info=True)
            self._one_by_one(group)
            return
        for waiting, outcome in zip(group, outcomes, strict=True):
            waiting.settle(outcome)

    def _one_by_one(self, group: list[_Waiting]) -> None:
        for waiting in group:
            self._write([waiting])

    def stop(self, timeout_s: float = 30.0) -> None:
        """Write what waits, then end the thread (the next upload starts another: an app
        may be started again, as tests do)."""
        with self._ready:
            self._stopping = True
            self._ready.notify()
            thread = self._thread
        if thread is not None:
            thread.join(timeout_s)
        with self._ready:
            self._stopping = False
            self._thread = None
