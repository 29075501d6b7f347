"""The job queue across processes: a worker killed mid-job, and two processes sharing a queue."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

from routekeeper.core.jobs import JobRunner, enqueue
from routekeeper.db.engine import Database
from tests.core.jobs_helper import (
    EFFECT_TASK,
    HOLD_TASK,
    URL_ENV,
    build_registry,
    effect_counts,
    job_settings,
    load_job,
)

REPO = Path(__file__).resolve().parents[2]


def _spawn(mode: str, url: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.core.jobs_helper", mode],
        cwd=REPO, env={**os.environ, URL_ENV: url}, text=True,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
    )


def _read_line(proc: subprocess.Popen[str], timeout_s: float = 20.0) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout_s)
    assert ready, "the worker process said nothing in time"
    return proc.stdout.readline().strip()


def _reap(procs: list[subprocess.Popen[str]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def test_killed_worker_job_is_finished_once_by_the_next_worker(
    queue_db: Database, queue_url: str
) -> None:
    """SIGKILL mid-job: once its lease expires another runner finishes the job, effect once."""
    with queue_db.write() as session:
        job_id = enqueue(session, HOLD_TASK, {"hold_s": 30}).id
    proc = _spawn("hold", queue_url)
    try:
        assert _read_line(proc) == f"holding {job_id}"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        _reap([proc])
    assert proc.returncode == -signal.SIGKILL
    job = load_job(queue_db, job_id)
    assert (job.status, job.attempts) == ("running", 1)
    assert effect_counts(queue_db, [job_id]) == {job_id: 0}

    second = JobRunner(queue_db, job_settings(), build_registry(), worker_id="second")
    # The dead worker heartbeated every 0.1 s, so its 1 s lease still holds for a while.
    assert second.run_one() is False
    deadline = time.monotonic() + 10
    while not second.run_one():
        assert time.monotonic() < deadline, "the expired lease was never taken over"
        time.sleep(0.05)
    job = load_job(queue_db, job_id)
    assert (job.status, job.attempts, job.locked_by) == ("succeeded", 2, None)
    assert effect_counts(queue_db, [job_id]) == {job_id: 1}


def test_two_processes_drain_a_queue_running_each_job_once(
    queue_db: Database, queue_url: str
) -> None:
    """Two worker processes of two threads each, started together, run every job exactly once."""
    with queue_db.write() as session:
        ids = [enqueue(session, EFFECT_TASK, {"sleep_s": 0.02}).id for _ in range(60)]
    procs = [_spawn("drain", queue_url) for _ in range(2)]
    try:
        for proc in procs:
            assert _read_line(proc) == "ready"
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        outputs = [proc.communicate(timeout=60)[0] for proc in procs]
    finally:
        _reap(procs)
    assert [proc.returncode for proc in procs] == [0, 0]
    ran = [int(out.split()[-1]) for out in outputs]
    assert sum(ran) == 60
    assert min(ran) > 0, f"one process ran nothing, so nothing contended: {ran}"
    assert effect_counts(queue_db, ids) == dict.fromkeys(ids, 1)
    for job_id in ids:
        job = load_job(queue_db, job_id)
        assert (job.status, job.attempts) == ("succeeded", 1)
