"""One pass over a log in large blocks: find the lines worth reading, never every line.

Each region of a block is first reduced, by one ``bytes.translate`` pass, to its line ends
and the capital letters of the needles of ``rules.NEEDLES``: the line ends give the line
numbers, and a needle whose capitals do not appear there in order, on one line, cannot be
in the region, so its ``bytes.find`` pass is skipped. The other needles are looked for with
``bytes.find`` over the whole region, so a line holding none of them costs only its share
of a few C-level searches; Python touches the few lines that hold one. The lines around
such a line are cut from the same buffer on demand, so a report spread over many lines
(registers, a stack trace) is read without matching each of its lines.
"""

from typing import Dict, Iterable, Iterator, List, Optional, Tuple, Union

from .rules import NEEDLE_FOLLOWERS, NEEDLES

BLOCK_BYTES = 4 << 20
# Context cut around a line: a Linux oops prints ~60 lines after its first line, Xen
# prints its registers and stack (~80 lines) before "Panic on CPU".
CONTEXT_BYTES = 32 << 10
CONTEXT_LINES = 160
MAX_LINE_BYTES = 4096  # of one line kept as text; longer lines are cut

# What one translate pass keeps of a region: line ends, and the capitals of the needles.
# Capitals are rare in logs, so what is kept is small and cheap to search; a needle's sign
# (its capitals) missing from it rules the needle out. Needles without capitals have no
# sign and are always looked for.
_KEPT = b"\n" + bytes(sorted({c for needle in NEEDLES for c in needle if 65 <= c <= 90}))
_DROPPED = bytes(c for c in range(256) if c not in _KEPT)
_SIGNS = tuple((needle, needle.translate(None, _DROPPED)) for needle in NEEDLES)
assert not any(b"\n" in needle for needle in NEEDLES)  # a sign is then within one line


def decode(raw: bytes) -> str:
    if len(raw) > MAX_LINE_BYTES:
        raw = raw[:MAX_LINE_BYTES]
    return raw.rstrip(b"\r").decode("utf-8", errors="replace")


class Hit:
    """A line holding a needle. Its context can be read until the scan moves on."""

    __slots__ = ("line", "pos", "text", "_buf", "_start", "_end", "_eof")

    def __init__(self, line: int, pos: int, text: str, buf: bytes, start: int, end: int, eof):
        self.line = line
        self.pos = pos
        self.text = text
        self._buf = buf
        self._start = start
        self._end = end
        self._eof = eof

    def previous_line(self) -> Optional[str]:
        """The line before this one, if the buffer holds it whole."""
        if self._start == 0:
            return None
        start = self._buf.rfind(b"\n", 0, self._start - 1) + 1
        if start == 0 and self._start - 1 > CONTEXT_BYTES:
            return None  # maybe cut
        return decode(self._buf[start : self._start - 1])

    def next_line(self) -> Optional[str]:
        """The line after this one, if the buffer holds it whole."""
        start = self._end + 1
        end = self._buf.find(b"\n", start)
        if end == -1:
            if not self._eof or start >= len(self._buf):
                return None
            end = len(self._buf)
        return decode(self._buf[start:end])

    def context(self, lines: int = CONTEXT_LINES) -> Tuple[List[str], List[str]]:
        """Up to `lines` lines before and after this one (fewer near the buffer's edges)."""
        buf = self._buf
        low = max(0, self._start - CONTEXT_BYTES)
        before = buf[low : self._start].split(b"\n")[:-1]
        if low > 0:
            before = before[1:]  # cut inside a line
        high = self._end + 1 + CONTEXT_BYTES
        after = buf[self._end + 1 : high].split(b"\n")
        if high < len(buf) or not self._eof:
            after = after[:-1]  # the last piece may be a partial line
        elif after and after[-1] == b"":
            after = after[:-1]
        return [decode(x) for x in before[-lines:]], [decode(x) for x in after[:lines]]


# Long: the hot loop of a whole-log scan (200 MB in bench/crash_analysis.py), kept in one
# frame so no call is paid per block.
def scan(blocks: Iterable[bytes], origin: int = 0, first_line: int = 1) -> Iterator[Hit]:
    """The lines of a stream that hold a needle, in order, with 1-based line numbers.

    `origin` is the byte offset of the first block in its file and `first_line` the number
    of its first line (a scan may start at a line boundary inside a file).
    """
    buf = b""
    buf_origin = origin  # file offset of buf[0]
    start = 0  # buf[start:] is not yet scanned; it begins a line
    line = first_line  # number of the line starting at buf[start]
    stream = iter(blocks)
    eof = False
    while not eof:
        block = next(stream, None)
        if block is None:
            eof = True
        elif not block:
            continue
        else:
            # Keep some scanned text for the context of the next lines, cut at a line start.
            keep = 0
            if start:
                floor = max(0, start - CONTEXT_BYTES - 1)
                keep = buf.find(b"\n", floor, start) + 1 or floor
            if keep > 0:
                buf_origin += keep
                buf = buf[keep:]
                start -= keep
            buf += block
            if len(buf) - start < 2 * CONTEXT_BYTES + BLOCK_BYTES // 4:
                continue  # read more before scanning: fewer, larger searches
        if eof:
            limit = len(buf)
        else:
            # Leave enough unscanned text after the last scanned line for its context.
            limit = buf.rfind(b"\n", start, len(buf) - CONTEXT_BYTES) + 1
            if limit <= start:
                if len(buf) - start < 4 * BLOCK_BYTES:
                    continue
                limit = len(buf) - CONTEXT_BYTES  # no line break in megabytes: cut anyway
        if limit <= start:
            break
        kept = buf[start:limit].translate(None, _DROPPED)
        found: Dict[int, int] = {}
        for needle, sign in _SIGNS:
            if sign and sign not in kept:
                continue
            followers = NEEDLE_FOLLOWERS.get(needle)
            at = buf.find(needle, start, limit)
            while at != -1:
                if followers and (
                    (at > 0 and (buf[at - 1 : at].isalnum() or buf[at - 1] == 0x5F))
                    or not buf.startswith(followers, at + len(needle))
                ):
                    at = buf.find(needle, at + 1, limit)
                    continue
                line_start = buf.rfind(b"\n", start, at) + 1 or start
                line_end = buf.find(b"\n", at, limit)
                if line_end == -1:
                    line_end = limit
                found[line_start] = line_end
                # The rest of this line has been seen; go on from the next one.
                at = buf.find(needle, line_end, limit)
        # Newlines are counted in the original only up to the lines found (none, mostly).
        hit_line, counted = line, start
        for line_start in sorted(found):
            hit_line += buf.count(b"\n", counted, line_start)
            counted = line_start
            line_end = found[line_start]
            yield Hit(
                hit_line,
                buf_origin + line_start,
                decode(buf[line_start:line_end]),
                buf,
                line_start,
                line_end,
                eof,
            )
        line += kept.count(b"\n")
        start = limit


def line_blocks(lines: Iterable[Union[str, bytes]], size: int = BLOCK_BYTES) -> Iterator[bytes]:
    """Lines (with or without their line ends) gathered into blocks for `scan`."""
    pending: List[bytes] = []
    pending_bytes = 0
    for item in lines:
        raw = item.encode("utf-8", errors="replace") if isinstance(item, str) else item
        if not raw.endswith(b"\n"):
            raw += b"\n"
        pending.append(raw)
        pending_bytes += len(raw)
        if pending_bytes >= size:
            yield b"".join(pending)
            pending, pending_bytes = [], 0
    if pending:
        yield b"".join(pending)
