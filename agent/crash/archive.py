"""The logs of a crash dump, read safely from a directory, a file or an archive.

Inputs: a dump directory as XenServer keeps them (``/var/crash/20261125-061000-UTC/``
with ``xen.log``, ``dom0.log``, ``xen-crashdump-analyser.log`` and memory images), one log
file, a log compressed with gzip, bzip2 or xz, or a tar (plain or compressed) or zip
archive of either. Formats are told by their magic bytes, not their names.

Everything is streamed and nothing is written to disk. Archives are distrusted: a member
whose name is absolute or climbs out with ``..`` makes the archive refused; links and
special files are skipped, never followed; members past ``MAX_MEMBERS``, output past
``MAX_TOTAL_BYTES`` or a stream expanding more than ``MAX_RATIO`` times make it refused
as a possible bomb. Files whose first block holds a NUL byte (memory images, core files)
are skipped as binary.
"""

import bz2
import gzip
import io
import lzma
import os
import re
import stat
import tarfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import Callable, Iterator, Optional

from agent.errors import AgentError

READ_BYTES = 1 << 20
SNIFF_BYTES = 8192
MAX_MEMBERS = 10_000
MAX_TOTAL_BYTES = 8 << 30
MAX_RATIO = 200
# Small logs of repeated lines compress far better than real ones: allow some output
# before holding a stream to the ratio.
RATIO_ALLOWANCE = 64 << 20

DAMAGED = (EOFError, zlib.error, lzma.LZMAError, OSError, tarfile.TarError, zipfile.BadZipFile)


class CrashInputError(AgentError):
    """The dump cannot be read: missing, unreadable or damaged."""


class UnsafeArchiveError(CrashInputError):
    """An archive that would escape its directory or expand without bound."""


class Source:
    """One log of the input, or a file skipped with the reason why."""

    def __init__(
        self,
        name: str,
        skipped: Optional[str] = None,
        path: Optional[Path] = None,
        size: int = 0,
        opener: Optional[Callable[[], Iterator[bytes]]] = None,
        truncated: bool = False,
    ):
        self.name = name
        self.skipped = skipped
        self.path = path  # a plain file on disk, which may be read from its end
        self.size = size
        self.opener = opener
        self.truncated = truncated  # a compressed log that ends early, read up to its end

    def blocks(self) -> Iterator[bytes]:
        if self.path is not None:
            with open(self.path, "rb") as handle:
                yield from iter(lambda: handle.read(READ_BYTES * 4), b"")
        elif self.opener is not None:
            yield from self.opener()


class _Budget:
    """What one input may cost, whatever nesting it uses."""

    def __init__(self, name: str):
        self.name = name
        self.members = 0
        self.total = 0

    def member(self) -> None:
        self.members += 1
        if self.members > MAX_MEMBERS:
            raise UnsafeArchiveError(
                f"{self.name}: more than {MAX_MEMBERS} files; refusing it as a possible bomb."
            )

    def spend(self, count: int) -> None:
        self.total += count
        if self.total > MAX_TOTAL_BYTES:
            raise UnsafeArchiveError(
                f"{self.name}: expands past {MAX_TOTAL_BYTES >> 30} GiB; refusing it as a "
                "possible bomb."
            )


class _Counting(io.RawIOBase):
    """Counts the compressed bytes a decompressor has consumed."""

    def __init__(self, raw):
        self.raw = raw
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.raw.read(len(buffer))
        buffer[: len(data)] = data
        self.count += len(data)
        return len(data)


class _Prefixed(io.RawIOBase):
    """A stream whose first bytes were already read to sniff its format."""

    def __init__(self, head: bytes, raw):
        self.head = head
        self.raw = raw

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self.head:
            count = min(len(buffer), len(self.head))
            buffer[:count] = self.head[:count]
            self.head = self.head[count:]
            return count
        data = self.raw.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class _Guarded(io.RawIOBase):
    """Decompressed output, held to the budget and to MAX_RATIO of the compressed input."""

    def __init__(self, name: str, raw, compressed: Optional[_Counting], budget: _Budget):
        self.name = name
        self.raw = raw
        self.compressed = compressed
        self.budget = budget
        self.produced = 0
        self.truncated = False
        self.read_some = getattr(raw, "read1", raw.read)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        try:
            # read1: one decompressed chunk at a time, so a stream cut short still yields
            # everything before the cut before it raises EOFError.
            data = self.read_some(len(buffer))
        except EOFError:
            # Cut short (a log being written when the host died): what came before stands.
            self.truncated = True
            return 0
        self.produced += len(data)
        self.budget.spend(len(data))
        if self.compressed and self.produced > (
            MAX_RATIO * self.compressed.count + RATIO_ALLOWANCE
        ):
            raise UnsafeArchiveError(
                f"{self.name} expands more than {MAX_RATIO} times its compressed size; "
                "refusing it as a possible bomb."
            )
        buffer[: len(data)] = data
        return len(data)


def open_input(path: Path) -> Iterator[Source]:
    """The logs of `path` (a dump directory, a log or an archive), in name order."""
    if not path.exists():
        raise CrashInputError(f"{path}: no such file or directory.")
    budget = _Budget(path.name)
    if path.is_dir():
        yield from _directory(path, budget)
    elif path.is_file():
        try:
            yield from _file(path, path.name, budget)
        except PermissionError:
            raise CrashInputError(f"{path}: permission denied.") from None
    else:
        raise CrashInputError(f"{path}: not a file or a directory.")


def _directory(root: Path, budget: _Budget) -> Iterator[Source]:
    def refuse(error: OSError) -> None:
        raise CrashInputError(f"{error.filename}: {error.strerror or error}.")

    for current, dirs, names in os.walk(root, onerror=refuse):
        dirs.sort()
        for name in list(dirs):
            if (Path(current) / name).is_symlink():
                # os.walk does not follow it; say so.
                relative = (Path(current) / name).relative_to(root).as_posix()
                yield Source(relative, skipped="a symbolic link, not followed")
        for name in sorted(names):
            path = Path(current) / name
            relative = path.relative_to(root).as_posix()
            budget.member()
            try:
                mode = os.lstat(path).st_mode
            except OSError as error:
                yield Source(relative, skipped=f"unreadable: {error.strerror}")
                continue
            if stat.S_ISLNK(mode):
                yield Source(relative, skipped="a symbolic link, not followed")
            elif not stat.S_ISREG(mode):
                yield Source(relative, skipped="not a regular file")
            else:
                try:
                    yield from _file(path, relative, budget)
                except PermissionError as error:
                    yield Source(relative, skipped=f"unreadable: {error.strerror}")


def _magic(head: bytes) -> str:
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"BZh"):
        return "bzip2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if head[257:262] == b"ustar":
        return "tar"
    return "plain"


def _decompressor(kind: str, raw):
    if kind == "gzip":
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if kind == "bzip2":
        return bz2.BZ2File(raw, mode="rb")
    return lzma.LZMAFile(raw, mode="rb")


def _read_head(stream) -> bytes:
    head = b""
    while len(head) < SNIFF_BYTES:
        chunk = stream.read(SNIFF_BYTES - len(head))
        if not chunk:
            break
        head += chunk
    return head


def _stem(name: str) -> str:
    for suffix in (".tgz", ".txz", ".tbz2"):
        if name.endswith(suffix):
            return name[: -len(suffix)] + ".tar"
    for suffix in (".gz", ".bz2", ".xz"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _file(path: Path, name: str, budget: _Budget) -> Iterator[Source]:
    with open(path, "rb") as handle:
        head = _read_head(handle)
        kind = _magic(head)
        if kind == "plain":
            if b"\x00" in head:
                yield Source(name, skipped="binary (a memory image or other non-text file)")
            else:
                yield Source(name, path=path, size=os.fstat(handle.fileno()).st_size)
            return
        if kind == "zip":
            yield from _zip(path, name, budget)
            return
        handle.seek(0)
        try:
            yield from _stream(name, kind, handle, budget, top=True)
        except PermissionError:
            raise
        except DAMAGED as error:
            raise CrashInputError(f"{name}: damaged or truncated ({error}).") from None


def _stream(name: str, kind: str, raw, budget: _Budget, top: bool) -> Iterator[Source]:
    """A tar, or a compressed log or tar, read from `raw` as it comes."""
    if kind == "tar":
        yield from _tar(name, io.BufferedReader(_Guarded(name, raw, None, budget)), budget)
        return
    counting = _Counting(raw)
    guard = _Guarded(name, _decompressor(kind, counting), counting, budget)
    guarded = io.BufferedReader(guard)
    head = _read_head(guarded)
    inner = _magic(head)
    if inner == "tar":
        if not top:
            yield Source(name, skipped="an archive inside the archive is not read")
            return
        yield from _tar(name, io.BufferedReader(_Prefixed(head, guarded)), budget)
    elif inner != "plain" or b"\x00" in head:
        yield Source(_stem(name), skipped="binary or nested archive inside the compressed file")
    else:
        yield _streamed_source(_stem(name), head, guarded, guard)


def _streamed_source(name: str, head: bytes, stream, guard: Optional[_Guarded] = None) -> Source:
    source = Source(name, truncated=guard is not None and guard.truncated)

    def blocks() -> Iterator[bytes]:
        yield head
        try:
            yield from iter(lambda: stream.read(READ_BYTES), b"")
        except DAMAGED:
            # A member cut short inside a damaged archive: keep what was read.
            source.truncated = True
        if guard is not None and guard.truncated:
            source.truncated = True

    source.opener = blocks
    return source


def safe_member_name(archive: str, name: str) -> str:
    """The member's path inside the archive; refuses names that would leave it."""
    cleaned = name.replace("\\", "/")
    parts = PurePosixPath(cleaned).parts
    if cleaned.startswith("/") or re.match(r"^[A-Za-z]:", cleaned) or ".." in parts:
        raise UnsafeArchiveError(
            f"{archive}: member {name!r} points outside the archive; refusing the archive."
        )
    return "/".join(part for part in parts if part not in ("", "."))


def _tar(name: str, stream, budget: _Budget) -> Iterator[Source]:
    archive = tarfile.open(fileobj=stream, mode="r|")
    members = iter(archive)
    while True:
        try:
            member = next(members, None)
        except DAMAGED as error:
            yield Source(name, skipped=f"the archive ends early or is damaged ({error})")
            return
        if member is None:
            return
        budget.member()
        member_name = safe_member_name(name, member.name)
        if member.isdir() or not member_name:
            continue
        if member.issym() or member.islnk():
            yield Source(member_name, skipped="a link, not followed")
        elif not member.isfile():
            yield Source(member_name, skipped="not a regular file")
        else:
            handle = archive.extractfile(member)
            if handle is not None:
                yield from _member(member_name, handle, budget)


def _zip(path: Path, name: str, budget: _Budget) -> Iterator[Source]:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as error:
        raise CrashInputError(f"{name}: damaged zip archive ({error}).") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_MEMBERS:
            raise UnsafeArchiveError(
                f"{name}: more than {MAX_MEMBERS} files; refusing it as a possible bomb."
            )
        if sum(info.file_size for info in infos) > MAX_TOTAL_BYTES:
            raise UnsafeArchiveError(
                f"{name}: expands past {MAX_TOTAL_BYTES >> 30} GiB; refusing it as a possible bomb."
            )
        for info in infos:
            budget.member()
            member_name = safe_member_name(name, info.filename)
            if info.is_dir() or not member_name:
                continue
            if stat.S_ISLNK(info.external_attr >> 16):
                yield Source(member_name, skipped="a link, not followed")
                continue
            if info.flag_bits & 0x1:
                yield Source(member_name, skipped="encrypted")
                continue
            if info.file_size > MAX_RATIO * max(info.compress_size, 1) + RATIO_ALLOWANCE:
                raise UnsafeArchiveError(
                    f"{name}: member {member_name!r} expands more than {MAX_RATIO} times its "
                    "compressed size; refusing it as a possible bomb."
                )
            try:
                handle = archive.open(info)
            except (NotImplementedError, RuntimeError, zipfile.BadZipFile) as error:
                yield Source(member_name, skipped=f"unreadable ({error})")
                continue
            with handle:
                yield from _member(member_name, _Guarded(name, handle, None, budget), budget)


def _member(name: str, handle, budget: _Budget) -> Iterator[Source]:
    """One file of an archive: a log, a compressed log, or something skipped."""
    stream = io.BufferedReader(handle) if isinstance(handle, io.RawIOBase) else handle
    head = _read_head(stream)
    kind = _magic(head)
    if kind in ("gzip", "bzip2", "xz"):
        yield from _stream(name, kind, _Prefixed(head, stream), budget, top=False)
    elif kind != "plain":
        yield Source(name, skipped="an archive inside the archive is not read")
    elif b"\x00" in head:
        yield Source(name, skipped="binary (a memory image or other non-text file)")
    else:
        yield _streamed_source(name, head, stream)
