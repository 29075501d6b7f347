"""Run osrm-routed on loopback as a supervised child: started, watched, restarted, stopped.

The child listens on 127.0.0.1 only (it has no authentication). A watcher thread restarts it
when it dies, with a growing pause so a dataset that makes it crash at once does not spin.
"""

from __future__ import annotations

import logging
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

import httpx

log = logging.getLogger(__name__)

_READY_TIMEOUT_S = 60.0
_RESTART_PAUSES_S = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
# A child that ran this long before dying earns a fresh start of the pause sequence.
_HEALTHY_RUN_S = 60.0


class RoutedError(RuntimeError):
    """osrm-routed could not be started."""


def free_port(host: str = "127.0.0.1") -> int:
    """A port the kernel considers free right now on host."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


class RoutedSupervisor:
    """One osrm-routed child serving a dataset on 127.0.0.1."""

    def __init__(self, binary: Path, dataset: Path, *, algorithm: str = "ch", port: int = 0,
                 max_table_size: int = 1000, threads: int = 2) -> None:
        """Configure the child; nothing runs before start()."""
        if algorithm not in ("ch", "mld"):
            raise ValueError("algorithm must be 'ch' or 'mld'")
        self.dataset = dataset
        self.algorithm = algorithm
        self.max_table_size = max_table_size
        # The command line but its port, which a restart may change.
        self._arguments = [str(binary), "--algorithm", algorithm, "--ip", "127.0.0.1",
                           "--threads", str(threads), "--max-table-size", str(max_table_size),
                           "--verbosity", "WARNING"]
        self.requested_port = port
        self.port = 0
        self.restarts = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._watcher: threading.Thread | None = None
        self._output: IO[bytes] | None = None
        # Called with the new URL when a restart had to move to another port.
        self.on_url: Callable[[str], None] | None = None

    @property
    def url(self) -> str:
        """The child's base URL (valid once started)."""
        return f"http://127.0.0.1:{self.port}"

    def running(self) -> bool:
        """Whether the child process is alive."""
        process = self._process
        return process is not None and process.poll() is None

    def start(self) -> None:
        """Start the child, wait until it answers, and watch it from a thread."""
        self._stopping.clear()
        self._launch()
        self._watcher = threading.Thread(target=self._watch, name="osrm-routed-watch",
                                         daemon=True)
        self._watcher.start()

    def stop(self) -> None:
        """Stop watching and end the child (SIGTERM, then SIGKILL after 5 s)."""
        self._stopping.set()
        with self._lock:
            process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(5.0)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._watcher is not None and self._watcher is not threading.current_thread():
            self._watcher.join(5.0)
        if self._output is not None:
            self._output.close()
            self._output = None

    def _command(self, port: int) -> list[str]:
        return [*self._arguments, "--port", str(port), str(self.dataset)]

    def _launch(self) -> None:
        """Start one child and wait until it answers HTTP, or raise RoutedError."""
        # A restart keeps the port the client already uses, unless that port is taken now.
        port = self.requested_port or self.port or free_port()
        if not self.requested_port and self.port and not _port_free(self.port):
            port = free_port()
        # Its output goes to an unnamed file, not a pipe: nobody reads a pipe while it runs,
        # and a full one would block the server.
        output = tempfile.TemporaryFile()  # noqa: SIM115 (closed when the child is replaced)
        process = subprocess.Popen(self._command(port), stdin=subprocess.DEVNULL,
                                   stdout=output, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + _READY_TIMEOUT_S
        url = f"http://127.0.0.1:{port}/nearest/v1/driving/0,0?number=1"
        while True:
            if process.poll() is not None:
                output.seek(0)
                error = output.read().decode(errors="replace")[-500:]
                output.close()
                raise RoutedError(f"osrm-routed exited with {process.returncode}: {error}")
            try:
                # Any OSRM answer (even "NoSegment" for 0,0) means the dataset is loaded.
                httpx.get(url, timeout=1.0)
                break
            except httpx.HTTPError as exc:
                if time.monotonic() > deadline:
                    process.kill()
                    process.wait()
                    output.close()
                    raise RoutedError(
                        f"osrm-routed did not answer within {_READY_TIMEOUT_S} s") from exc
                time.sleep(0.05)
        with self._lock:
            if self._stopping.is_set():
                process.terminate()
                process.wait()
                output.close()
                return
            moved = bool(self.port) and self.port != port
            self._process = process
            self.port = port
            if self._output is not None:
                self._output.close()
            self._output = output
        if moved and self.on_url is not None:
            self.on_url(self.url)
        log.info("osrm-routed (%s) serving %s on %s", self.algorithm, self.dataset, self.url)

    def _watch(self) -> None:
        """Restart the child whenever it exits, until stop()."""
        failures = 0
        started = time.monotonic()
        while not self._stopping.is_set():
            process = self._process
            if process is None:
                return
            returncode = process.wait()
            if self._stopping.is_set():
                return
            if time.monotonic() - started > _HEALTHY_RUN_S:
                failures = 0
            pause = _RESTART_PAUSES_S[min(failures, len(_RESTART_PAUSES_S) - 1)]
            log.error("osrm-routed exited with %s; restarting in %.1f s", returncode, pause)
            while not self._stopping.wait(pause):
                try:
                    self._launch()
                    self.restarts += 1
                    started = time.monotonic()
                    break
                except (RoutedError, OSError) as exc:
                    failures += 1
                    pause = _RESTART_PAUSES_S[min(failures, len(_RESTART_PAUSES_S) - 1)]
                    log.error("osrm-routed restart failed (%s); next try in %.1f s", exc, pause)
            failures += 1
