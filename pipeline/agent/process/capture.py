"""A command's output as it is read: the first `cap` bytes kept, the rest counted and dropped.

Reading never stops at the cap, so a chatty plugin cannot block on a full pipe, and memory
stays bounded whatever it writes.
"""

from __future__ import annotations

import asyncio

from pipeline import jsoncodec
from pipeline.model import JSON, MAX_MESSAGE_SIZE

__all__ = ["OutputCapture", "fit_message"]

_CHUNK = 64 * 1024


class OutputCapture:
    """Reads a stream to EOF, keeping the first `cap` bytes and counting the rest."""

    def __init__(self, cap: int) -> None:
        self.cap = max(0, cap)
        self.chunks: list[bytes] = []
        self.kept = 0
        self.dropped = 0
        #: Set by text() when it had to cut.
        self.cut = False

    async def drain(self, stream: asyncio.StreamReader | None) -> None:
        if stream is None:
            return
        while chunk := await stream.read(_CHUNK):
            self.feed(chunk)

    def feed(self, chunk: bytes) -> None:
        room = self.cap - self.kept
        if room >= len(chunk):
            self.chunks.append(chunk)
            self.kept += len(chunk)
        elif room > 0:
            self.chunks.append(chunk[:room])
            self.kept += room
            self.dropped += len(chunk) - room
        else:
            # Keep reading so the child never blocks on a full pipe.
            self.dropped += len(chunk)

    @property
    def data(self) -> bytes:
        return b"".join(self.chunks)

    def text(self) -> str:
        """The output as text, at most `cap` UTF-8 bytes including the note that says it was cut.

        Decoding replaces each invalid byte with U+FFFD (three bytes), so output under the cap
        can still grow past it; that is cut as well, so the text always fits.
        """
        data = self.data
        text = data.decode("utf-8", errors="replace")
        if not self.dropped and (len(data) * 3 <= self.cap or len(text.encode("utf-8")) <= self.cap):
            return text
        self.cut = True
        note = f"[ogi: output cut to {self.cap} bytes; the command wrote {self.kept + self.dropped} bytes]\n"
        room = self.cap - len(note) - 1  # the note is ASCII; 1 for the newline before it
        head = text.encode("utf-8")[: max(0, room)].decode("utf-8", errors="ignore")
        if head and not head.endswith("\n"):
            head += "\n"
        return head + note


def fit_message(payload: JSON, limit: int = MAX_MESSAGE_SIZE) -> bytes:
    """The result as JSON, its output shortened if needed so the message fits the server's limit.

    The output cap bounds the output's bytes, but JSON escaping can make a control character
    cost six; this is the last guard.
    """
    body = jsoncodec.dumps(payload)
    check = payload.get("check")
    for _ in range(3):
        if len(body) <= limit or not isinstance(check, dict) or not isinstance(check.get("output"), str):
            return body
        output: str = check["output"]
        note = f"\n[ogi: output cut so the result fits {limit} bytes]\n"
        keep = max(0, len(output) - (len(body) - limit) - 2 * len(note))
        check = {**check, "output": output[:keep] + note}
        body = jsoncodec.dumps({**payload, "check": check})
    return body
