"""The lines of a large plain log that hold a needle, found by grep, two halves at once.

Reading a whole log in Python costs one C-level search per needle; grep looks for every
needle in one pass, and two greps, each given half the file, use two cores. The scan then
reads only the regions around the lines grep found, wide enough for the context it would
cut from a whole read, so it yields the same hits. Without grep the caller reads it all.
"""

import fcntl
import os
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

from .rules import NEEDLES
from .scan import CONTEXT_BYTES, Hit, scan

# Below this a whole read costs less than starting two greps.
MIN_BYTES = 8 << 20
# Kept on each side of a found line: the scan's context, and a line more.
MARGIN = CONTEXT_BYTES + (8 << 10)
# Linux's fcntl that resizes a pipe; Python's fcntl module names it from 3.10 on only.
F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
GREP_ARGS = [
    "--binary-files=text",
    "--no-filename",
    "--line-number",
    "--byte-offset",
    "--fixed-strings",
    *(f"--regexp={needle.decode()}" for needle in NEEDLES),
]


def scan_file(path: Path) -> Optional[Iterator[Hit]]:
    """The hits of `scan` over the whole file, or None when grep cannot be used."""
    grep = shutil.which("grep")
    if grep is None:
        return None
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size < MIN_BYTES:
            return None
        found = _grep_halves(grep, handle, size)
    if found is None:
        return None
    return _scan_regions(path, found)


def _grep_halves(grep: str, handle, size: int) -> Optional[List[Tuple[int, int]]]:
    """(line number, byte offset) of each line holding a needle, in file order."""
    middle = _line_start_after(handle, size // 2)
    env = dict(os.environ, LC_ALL="C")  # bytes, not characters: faster, and no decoding
    first = subprocess.Popen(
        [grep, *GREP_ARGS], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env
    )
    try:  # fewer, larger hand-overs to grep
        fcntl.fcntl(first.stdin.fileno(), F_SETPIPE_SZ, 1 << 20)
    except OSError:
        pass  # a smaller limit (fs.pipe-max-size) keeps the default size
    feeder = threading.Thread(target=_send, args=(handle.fileno(), first.stdin, middle))
    feeder.start()
    with open(handle.name, "rb") as second_half:
        second_half.seek(middle)
        second = subprocess.Popen(
            [grep, *GREP_ARGS], stdin=second_half, stdout=subprocess.PIPE, env=env
        )
    outputs: Dict[int, bytes] = {}

    def collect(index: int, grep: subprocess.Popen) -> None:
        outputs[index] = grep.stdout.read()  # both at once: neither stalls on a full pipe
        grep.wait()

    readers = [threading.Thread(target=collect, args=(i, g)) for i, g in enumerate((first, second))]
    for reader in readers:
        reader.start()
    for thread in (feeder, *readers):
        thread.join()
    if {first.returncode, second.returncode} - {0, 1}:
        return None  # grep failed (1 only means nothing found)
    # The second half's numbers count from its own start: the first half's lines shift
    # them. Counted only when needed (a log with no failure has nothing to shift).
    lines_before = _count_newlines(handle, middle) if outputs[1] else 0
    found = []
    for output, line_base, byte_base in ((outputs[0], 0, 0), (outputs[1], lines_before, middle)):
        for row in output.split(b"\n"):  # a bare \r inside a log line is no line end
            if not row:
                continue
            line, offset, _text = row.split(b":", 2)
            found.append((int(line) + line_base, int(offset) + byte_base))
    return found


def _send(fd: int, pipe, count: int) -> None:
    """Copy the first `count` bytes of the file into grep's input, in the kernel."""
    try:
        offset = 0
        while offset < count:
            sent = os.sendfile(pipe.fileno(), fd, offset, count - offset)
            if sent == 0:
                break
            offset += sent
    except BrokenPipeError:
        pass  # grep stopped early; its exit status says why
    finally:
        pipe.close()


def _line_start_after(handle, offset: int) -> int:
    handle.seek(offset)
    for chunk in iter(lambda: handle.read(1 << 16), b""):
        at = chunk.find(b"\n")
        if at >= 0:
            return offset + at + 1
        offset += len(chunk)
    return offset


def _count_newlines(handle, limit: int) -> int:
    handle.seek(0)
    count = 0
    while limit > 0:
        block = handle.read(min(8 << 20, limit))
        if not block:
            break
        count += block.count(b"\n")
        limit -= len(block)
    return count


def _scan_regions(path: Path, found: List[Tuple[int, int]]) -> Iterator[Hit]:
    """Scan the merged regions around the found lines, each from a line start."""
    regions: List[List[int]] = []  # [start, end, line number at start's hit, its offset]
    for line, offset in found:
        start, end = max(0, offset - MARGIN), offset + 2 * MARGIN
        if regions and start <= regions[-1][1]:
            regions[-1][1] = end
        else:
            regions.append([start, end, line, offset])
    with open(path, "rb") as handle:
        for start, end, line, offset in regions:
            handle.seek(start)
            data = handle.read(end - start)
            # End on a whole line, as the scan expects of a file's last block.
            while data and not data.endswith(b"\n"):
                more = handle.read(1 << 16)
                if not more:
                    break
                cut = more.find(b"\n")
                data += more if cut < 0 else more[: cut + 1]
                if cut >= 0:
                    break
            if start > 0:  # begin on a whole line
                skip = data.find(b"\n", 0, offset - start) + 1
                data, start = data[skip:], start + skip
            first_line = line - data.count(b"\n", 0, offset - start)
            yield from scan([data], origin=start, first_line=first_line)
