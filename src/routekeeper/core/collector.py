"""The cyclic garbage collector of a long-running server or worker process.

Two settings, applied once the process has started (``settle``):

* **Freeze what start-up built.** It lives as long as the process; left in the collector's
  generations, every full pass walks it again while a planning run or an export allocates
  millions of objects.
* **Collect the young less often.** The tracking processor keeps the decoded states of
  thousands of routes (``tracking.resident_states``) and replaces each with a new one every
  batch: objects that are still alive when a young collection runs are promoted, and with
  CPython's default thresholds (700, 10, 10) the old generation grew fast enough to be
  walked whole dozens of times a minute. In the processor benchmark (800 routes, batches of
  100 fixes) that was 1.3-2.3 ms of collection a route batch, as much as the rest of the
  batch; with a young threshold of 50,000 it was 0.33 ms and no full pass. Young
  collections still reclaim cycles among new objects (most of the garbage: a session's
  objects, a request's); cycles that outlive them wait for the rarer full passes.
"""

from __future__ import annotations

import gc

# Allocations (net of deallocations) between young collections, young collections between
# middle ones, middle ones between full passes (which CPython runs only once the objects
# promoted since the last one make up a quarter of the old generation).
THRESHOLDS = (50_000, 20, 100)


def settle() -> None:
    """Freeze what exists now and set the thresholds (call once, after start-up)."""
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
