"""A local mail catcher for the demo: an SMTP server on loopback that keeps every message.

``routekeeper serve --mail-catcher var/mail/demo.mbox`` (what ``make run`` does) starts it
in a thread, points the service's mail settings at it, and appends each message it
receives to that mbox file, which any mail reader opens (``mutt -f var/mail/demo.mbox``).
It speaks the part of SMTP (RFC 5321) that a client sending mail needs: EHLO/HELO, MAIL,
RCPT, DATA with dot-stuffing, RSET, NOOP and QUIT; no relaying, no authentication.
"""

from __future__ import annotations

import asyncio
import mailbox
import threading
from email import message_from_bytes
from email.message import Message
from pathlib import Path

MAX_MESSAGE_BYTES = 10 * 1024 * 1024


class MailCatcher:
    """The server: ``start()`` returns the port it listens on; ``stop()`` ends it."""

    def __init__(self, mbox_path: Path, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.mbox_path = mbox_path
        self.host = host
        self.port = port
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mail-catcher", daemon=True)
        self._server: asyncio.base_events.Server | None = None
        self._lock = threading.Lock()

    def start(self) -> int:
        """Start serving in a thread; the bound port."""
        self.mbox_path.parent.mkdir(parents=True, exist_ok=True)
        self._thread.start()
        self._ready.wait(10)
        if self._server is None:
            raise OSError(f"mail catcher could not listen on {self.host}:{self.port}")
        return self.port

    def stop(self) -> None:
        """Close the server and its thread."""
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._server = self._loop.run_until_complete(
                asyncio.start_server(self._session, self.host, self.port))
            self.port = self._server.sockets[0].getsockname()[1]
        finally:
            self._ready.set()
        self._loop.run_forever()

    def keep(self, data: bytes) -> None:
        """Append one received message to the mbox."""
        message: Message = message_from_bytes(data)
        with self._lock:
            box = mailbox.mbox(str(self.mbox_path))
            try:
                box.lock()
                box.add(message)
                box.flush()
            finally:
                box.unlock()
                box.close()

    async def _session(self, reader: asyncio.StreamReader,
                       writer: asyncio.StreamWriter) -> None:
        async def reply(line: str) -> None:
            writer.write(f"{line}\r\n".encode())
            await writer.drain()

        await reply("220 routekeeper mail catcher")
        sender: str | None = None
        recipients: list[str] = []
        try:
            while True:
                raw = await reader.readline()
                if not raw:
                    break
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                verb = line[:4].upper()
                if verb == "EHLO":
                    await reply("250-routekeeper")
                    await reply(f"250 SIZE {MAX_MESSAGE_BYTES}")
                elif verb == "HELO":
                    await reply("250 routekeeper")
                elif verb == "MAIL":
                    sender, recipients = line[10:].strip(), []
                    await reply("250 OK")
                elif verb == "RCPT":
                    if sender is None:
                        await reply("503 MAIL first")
                        continue
                    recipients.append(line[8:].strip())
                    await reply("250 OK")
                elif verb == "DATA":
                    if not recipients:
                        await reply("503 RCPT first")
                        continue
                    await reply("354 End data with <CR><LF>.<CR><LF>")
                    data = await self._data(reader)
                    if data is None:
                        await reply("552 Message too large")
                    else:
                        await asyncio.to_thread(self.keep, data)
                        await reply("250 OK: kept")
                    sender, recipients = None, []
                elif verb == "RSET":
                    sender, recipients = None, []
                    await reply("250 OK")
                elif verb == "NOOP":
                    await reply("250 OK")
                elif verb == "QUIT":
                    await reply("221 Bye")
                    break
                else:
                    await reply("502 Command not implemented")
        finally:
            writer.close()

    @staticmethod
    async def _data(reader: asyncio.StreamReader) -> bytes | None:
        lines: list[bytes] = []
        size = 0
        while True:
            raw = await reader.readline()
            if not raw or raw in (b".\r\n", b".\n"):
                break
            if raw.startswith(b".."):
                raw = raw[1:]  # dot-stuffing (RFC 5321 4.5.2)
            size += len(raw)
            lines.append(raw)
        return None if size > MAX_MESSAGE_BYTES else b"".join(lines)
