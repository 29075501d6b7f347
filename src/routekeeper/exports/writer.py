"""A streaming CSV.gz file writer: rows in, a durable file out, in constant memory.

Formatting CSV (the calling thread) and compressing (a background thread: zlib releases the
GIL) overlap, the way ``psql ... | gzip`` overlaps its two processes. A bounded queue
between them keeps memory constant: at most a few batches of text are in flight.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import queue
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

# zlib level 1 (gzip -1): about a fifth less CPU per export than gzip's default level 6
# for files about 30% larger (docs/benchmarks/export.md); CPU is what a small shared
# machine runs short of, and Python's own default, level 9, would cost three times more.
GZIP_LEVEL = 1
# Encoded batches waiting for the compressor; the writer blocks when this many wait.
_QUEUE_DEPTH = 2


def csv_bytes(rows: Iterable[Sequence[Any]]) -> bytes:
    """Rows as CSV text in UTF-8 (str, int, float or None cells; None is an empty cell)."""
    text = io.StringIO()
    # lineterminator \r\n is RFC 4180's; QUOTE_MINIMAL keeps the file small.
    csv.writer(text, lineterminator="\r\n").writerows(rows)
    return text.getvalue().encode("utf-8")


class CsvGzWriter:
    """Write CSV rows through gzip into ``path``; ``close`` makes the file durable (fsync)."""

    def __init__(
        self, path: Path, header: Sequence[str], *, level: int | None = None
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._raw = open(path, "wb")  # noqa: SIM115 - closed by close()/abort()
        # mtime=0 and no file name: the same rows always give the same bytes.
        self._gzip = gzip.GzipFile(filename="", mode="wb", fileobj=self._raw,
                                   compresslevel=GZIP_LEVEL if level is None else level,
                                   mtime=0)
        self._chunks: queue.Queue[bytes | None] = queue.Queue(maxsize=_QUEUE_DEPTH)
        self._error: BaseException | None = None
        self._compressor = threading.Thread(target=self._compress, name="export-gzip",
                                            daemon=True)
        self._compressor.start()
        self._header: bytes | None = csv_bytes([header])

    def _compress(self) -> None:
        while True:
            chunk = self._chunks.get()
            if chunk is None:
                return
            if self._error is None:
                try:
                    self._gzip.write(chunk)
                except BaseException as exc:  # handed to the writing thread
                    self._error = exc

    def _send(self, chunk: bytes | None) -> None:
        if self._error is not None:
            raise self._error
        self._chunks.put(chunk)

    def write_csv(self, data: bytes) -> None:
        """Append rows that are already CSV (UTF-8, \\r\\n row ends)."""
        if self._header is not None:
            self._send(self._header)
            self._header = None
        self._send(data)

    def close(self) -> int:
        """Finish the gzip stream, fsync the file and return its size in bytes."""
        self.write_csv(b"")  # an export without rows still has its header
        self._send(None)
        self._compressor.join()
        if self._error is not None:
            raise self._error
        self._gzip.close()
        self._raw.flush()
        os.fsync(self._raw.fileno())
        size = self._raw.tell()
        self._raw.close()
        return size

    def abort(self) -> None:
        """Stop without finishing and delete the partial file."""
        if self._compressor.is_alive():
            self._error = self._error or RuntimeError("export aborted")
            self._chunks.put(None)
            self._compressor.join()
        self._raw.close()
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> CsvGzWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            return
        if issubclass(exc_type, Exception):
            self.abort()
        elif self._compressor.is_alive():
            # A crash stand-in (BaseException): stop the thread, leave the partial file.
            self._error = self._error or RuntimeError("export interrupted")
            self._chunks.put(None)
            self._compressor.join()


def fsync_directory(path: Path) -> None:
    """Make a rename inside ``path`` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
