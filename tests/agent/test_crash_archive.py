"""Crash dumps as XenServer keeps them, and archives of them, read safely."""

import bz2
import gzip
import io
import lzma
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from agent.crash import CrashInputError, UnsafeArchiveError, analyse_path, archive

FIXTURES = Path(__file__).parent / "fixtures" / "crash"
ROOT = Path(__file__).resolve().parents[2]
DUMP = "20261125-061000-UTC"
MEMORY_IMAGE = b"\x7fELF\x02\x01\x01" + bytes(8192)


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def o2cb_dom0_log() -> bytes:
    """dom0's ring as xen-crashdump-analyser writes it: dmesg stamps, no wall clock."""
    return fixture("o2cb_disk_dmesg_reset.txt").replace(
        b"*** ocfs2 is very sorry to be fencing this system by restarting ***",
        b"Kernel panic - not syncing: *** ocfs2 is very sorry to be fencing this system by "
        b"panicing ***",
    )


def dump_files(kind: str = "o2cb") -> dict[str, bytes]:
    files = {
        "xen-crashdump-analyser.log": b"xen-crashdump-analyser: crash at 2026-11-25 06:10:00\n",
        "xen-memory-dump": MEMORY_IMAGE,
        # A guest's console: its oops did not crash the host.
        "dom3.log": fixture("bug_null_pointer_new.log"),
    }
    if kind == "o2cb":
        files["dom0.log"] = o2cb_dom0_log()
        files["xen.log"] = b"(XEN) [ 3390.100200] Hardware Dom0 crashed: Executing crash image\n"
    else:
        files["dom0.log"] = fixture("bug_soft_lockup.log")
        files["xen.log"] = fixture("xhad_xen_watchdog_stamped.log")
    return files


def make_dump(base: Path, kind: str = "o2cb") -> Path:
    directory = base / DUMP
    directory.mkdir(parents=True)
    for name, data in dump_files(kind).items():
        (directory / name).write_bytes(data)
    return directory


def add_file(tar: tarfile.TarFile, name: str, data: bytes, **attributes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for key, value in attributes.items():
        setattr(info, key, value)
    tar.addfile(info, io.BytesIO(data))


def make_tar(path: Path, files: dict[str, bytes], mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as tar:
        for name, data in files.items():
            add_file(tar, name, data)
    return path


def assert_o2cb_dump(result: dict, prefix: str = "") -> None:
    assert result["cause"] == "o2cb"
    assert result["details"]["fence_method"] == "panic"
    assert result["details"]["device"] == "sdb"
    # dom0's ring has no wall clock: the time comes from the dump directory's name.
    assert result["crash_time"] == "2026-11-25T06:10:00+00:00"
    assert {e["file"] for e in result["evidence"]} == {f"{prefix}dom0.log"}
    assert [e["line"] for e in result["evidence"]] == [5, 6, 7]
    skipped = {f["file"]: f["reason"] for f in result["files"] if not f["read"]}
    assert "binary" in skipped[f"{prefix}xen-memory-dump"]
    assert "guest" in skipped[f"{prefix}dom3.log"]


def test_xenserver_dump_directory(tmp_path):
    assert_o2cb_dump(analyse_path(make_dump(tmp_path)))


def test_xhad_dump_directory(tmp_path):
    result = analyse_path(make_dump(tmp_path, "xhad"))
    assert result["cause"] == "xhad"
    assert result["crash_time"] == "2026-11-25T06:10:00+00:00"
    assert ("xen.log", 5) in {(e["file"], e["line"]) for e in result["evidence"]}
    assert "soft lockup" in result["details"]["dom0_before"]


@pytest.mark.parametrize("mode", ["w:gz", "w:xz", "w:bz2", "w"])
def test_tar_archives_of_a_dump(tmp_path, mode):
    files = {f"{DUMP}/{name}": data for name, data in dump_files().items()}
    path = make_tar(tmp_path / "dump.tar", files, mode)
    assert_o2cb_dump(analyse_path(path), prefix=f"{DUMP}/")


def test_zip_of_a_dump(tmp_path):
    path = tmp_path / "upload.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive_file:
        for name, data in dump_files().items():
            archive_file.writestr(f"{DUMP}/{name}", data)
    assert_o2cb_dump(analyse_path(path), prefix=f"{DUMP}/")


@pytest.mark.parametrize(
    ("suffix", "compress"),
    [(".gz", gzip.compress), (".xz", lzma.compress), (".bz2", bz2.compress)],
)
def test_compressed_single_log(tmp_path, suffix, compress):
    path = tmp_path / f"kern.log{suffix}"
    path.write_bytes(compress(fixture("o2cb_disk_syslog_panic.log")))
    result = analyse_path(path)
    assert result["cause"] == "o2cb"
    assert {e["file"] for e in result["evidence"]} == {"kern.log"}
    assert [e["line"] for e in result["evidence"]] == [7, 8, 9, 10]


def test_compressed_logs_inside_a_directory_and_a_tar(tmp_path):
    directory = tmp_path / "logs"
    directory.mkdir()
    (directory / "kern.log.1.gz").write_bytes(gzip.compress(fixture("bug_hung_task.log")))
    assert analyse_path(directory)["details"]["kind"] == "hung_task"
    path = make_tar(
        tmp_path / "logs.tgz",
        {"var/log/kern.log.2.xz": lzma.compress(fixture("o2cb_quorum_only.log"))},
    )
    result = analyse_path(path)
    assert result["details"]["mechanism"] == "quorum"
    assert result["evidence"][0]["file"] == "var/log/kern.log.2"


def test_truncated_compressed_log_is_read_up_to_its_end(tmp_path):
    data = gzip.compress(fixture("o2cb_disk_syslog_panic.log") * 3)
    path = tmp_path / "kern.log.gz"
    path.write_bytes(data[: len(data) - 20])
    result = analyse_path(path)
    assert result["cause"] == "o2cb"
    assert result["files"] == [{"file": "kern.log", "read": True, "truncated": True}]


# ---------------------------------------------------------------- hostile input


@pytest.mark.parametrize("name", ["../../etc/cron.d/evil", "/etc/passwd", "logs/../../x.log"])
def test_tar_member_escaping_the_archive_is_refused(tmp_path, name):
    path = make_tar(tmp_path / "evil.tar.gz", {"dom0.log": b"hello\n", name: b"x\n"})
    with pytest.raises(UnsafeArchiveError, match="outside the archive"):
        analyse_path(path)


@pytest.mark.parametrize("name", ["..\\..\\windows\\evil.log", "C:/evil.log", "a/../../b"])
def test_zip_member_escaping_the_archive_is_refused(tmp_path, name):
    path = tmp_path / "evil.zip"
    with zipfile.ZipFile(path, "w") as archive_file:
        archive_file.writestr(name, "x\n")
    with pytest.raises(UnsafeArchiveError, match="outside the archive"):
        analyse_path(path)


def test_links_in_a_tar_are_skipped_not_followed(tmp_path):
    secret = tmp_path / "secret.log"
    secret.write_text("Kernel panic - not syncing: this must never be read\n")
    path = tmp_path / "links.tar"
    with tarfile.open(path, "w") as tar:
        add_file(tar, "dump/dom0.log", fixture("bug_soft_lockup.log"))
        add_file(tar, "dump/kern.log", b"", type=tarfile.SYMTYPE, linkname=str(secret))
        add_file(tar, "dump/hard.log", b"", type=tarfile.LNKTYPE, linkname="dump/dom0.log")
        add_file(tar, "dump/fifo", b"", type=tarfile.FIFOTYPE)
    result = analyse_path(path)
    assert result["details"]["kind"] == "soft_lockup"
    skipped = {f["file"]: f["reason"] for f in result["files"] if not f["read"]}
    assert skipped == {
        "dump/kern.log": "a link, not followed",
        "dump/hard.log": "a link, not followed",
        "dump/fifo": "not a regular file",
    }


def test_symbolic_links_in_a_dump_directory_are_not_followed(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "kern.log").write_bytes(fixture("o2cb_disk_syslog_panic.log"))
    directory = tmp_path / DUMP
    directory.mkdir()
    (directory / "dom0.log").write_bytes(fixture("bug_hung_task.log"))
    (directory / "kern.log").symlink_to(outside / "kern.log")
    (directory / "more").symlink_to(outside, target_is_directory=True)
    result = analyse_path(directory)
    assert result["details"]["kind"] == "hung_task"
    skipped = {f["file"]: f["reason"] for f in result["files"] if not f["read"]}
    assert skipped == {
        "kern.log": "a symbolic link, not followed",
        "more": "a symbolic link, not followed",
    }


def test_symlink_inside_a_zip_is_skipped(tmp_path):
    path = tmp_path / "links.zip"
    with zipfile.ZipFile(path, "w") as archive_file:
        info = zipfile.ZipInfo("dump/kern.log")
        info.external_attr = (0o120777 << 16) | 0x20
        archive_file.writestr(info, "/etc/shadow")
        archive_file.writestr("dump/dom0.log", fixture("bug_gpf_bare.log"))
    result = analyse_path(path)
    assert result["details"]["kind"] == "general_protection_fault"
    assert {"file": "dump/kern.log", "read": False, "reason": "a link, not followed"} in result[
        "files"
    ]


def test_gzip_bomb_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(archive, "RATIO_ALLOWANCE", 1 << 20)
    path = tmp_path / "kern.log.gz"
    with gzip.open(path, "wb", compresslevel=9) as out:
        for _ in range(64):
            out.write(b"A" * (1 << 20))
    with pytest.raises(UnsafeArchiveError, match="possible bomb"):
        analyse_path(path)


def test_tar_gz_bomb_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(archive, "RATIO_ALLOWANCE", 1 << 20)
    path = make_tar(tmp_path / "dump.tgz", {"dom0.log": b"x" * (32 << 20)})
    with pytest.raises(UnsafeArchiveError, match="possible bomb"):
        analyse_path(path)


def test_zip_bomb_is_refused_before_reading(tmp_path, monkeypatch):
    monkeypatch.setattr(archive, "RATIO_ALLOWANCE", 1 << 20)
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive_file:
        archive_file.writestr("dom0.log", b"y" * (16 << 20))
    with pytest.raises(UnsafeArchiveError, match="possible bomb"):
        analyse_path(path)


def test_too_many_members_are_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(archive, "MAX_MEMBERS", 5)
    path = make_tar(tmp_path / "many.tar", {f"f{i}.log": b"x\n" for i in range(8)}, "w")
    with pytest.raises(UnsafeArchiveError, match="more than 5 files"):
        analyse_path(path)


def test_too_much_output_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(archive, "MAX_TOTAL_BYTES", 1 << 20)
    path = make_tar(tmp_path / "big.tar", {"a.log": b"x\n" * (1 << 20)}, "w")
    with pytest.raises(UnsafeArchiveError, match="expands past"):
        analyse_path(path)


def test_binary_and_nested_archive_members_are_skipped(tmp_path):
    inner = io.BytesIO()
    with tarfile.open(fileobj=inner, mode="w") as tar:
        add_file(tar, "dom0.log", fixture("o2cb_disk_syslog_panic.log"))
    path = make_tar(
        tmp_path / "outer.tar.gz",
        {
            "core.1234": MEMORY_IMAGE,
            "inner.tar": inner.getvalue(),
            "inner.tar.gz": gzip.compress(inner.getvalue()),
            "kern.log": fixture("bug_hung_task.log"),
        },
    )
    result = analyse_path(path)
    assert result["details"]["kind"] == "hung_task"
    skipped = {f["file"] for f in result["files"] if not f["read"]}
    assert skipped == {"core.1234", "inner.tar", "inner.tar.gz"}


def test_damaged_archive_and_missing_path_fail_clearly(tmp_path):
    damaged = tmp_path / "dump.tar.gz"
    damaged.write_bytes(b"\x1f\x8b\x08\x00garbage that is no deflate stream" * 4)
    with pytest.raises(CrashInputError, match="damaged or truncated"):
        analyse_path(damaged)
    with pytest.raises(CrashInputError, match="no such file or directory"):
        analyse_path(tmp_path / "absent")
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"")
    assert analyse_path(empty)["details"]["kind"] == "unknown"


def test_unreadable_file_fails_clearly(tmp_path, monkeypatch):
    path = tmp_path / "kern.log"
    path.write_text("x\n")

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(archive, "open", refuse, raising=False)
    with pytest.raises(CrashInputError, match="permission denied"):
        analyse_path(path)


# ---------------------------------------------------------------- the command line


def agent(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    return subprocess.run(
        [sys.executable, "-m", "agent", *args], capture_output=True, text=True, cwd=ROOT, env=env
    )


def test_cli_json_and_summary(tmp_path):
    import json

    dump = make_dump(tmp_path)
    done = agent("analyse-crash", str(dump), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["cause"] == "o2cb"
    summary = agent("analyse-crash", str(dump)).stdout
    assert summary.startswith("cause: o2cb (disk_heartbeat, fence method panic)\n")
    assert "time: 2026-11-25T06:10:00+00:00" in summary
    assert "\n  dom0.log:7: [ 3384.993201] Kernel panic - not syncing: ***" in summary


@pytest.mark.parametrize("case", ["missing", "unsafe", "damaged"])
def test_cli_errors_are_one_line_without_traceback(tmp_path, case):
    if case == "missing":
        path, message = tmp_path / "nothing-here", "no such file or directory"
    elif case == "unsafe":
        path = make_tar(tmp_path / "evil.tgz", {"../../evil.log": b"x\n"})
        message = "outside the archive"
    else:
        path = tmp_path / "bad.zip"
        path.write_bytes(b"PK\x03\x04" + b"\x00" * 40)
        message = "damaged"
    done = agent("analyse-crash", str(path), "--json")
    assert done.returncode != 0
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert message in done.stderr


@pytest.mark.parametrize("archived", [False, True])
def test_every_log_read_is_kept_with_its_line_numbers_even_from_an_archive(tmp_path, archived):
    """A bug report carries every log the verdict read (xen.log too, which no evidence
    cites): the tail of each, numbered as in the whole file, from a directory or a tar."""
    from agent.crashdumps import LOG_BYTES_KEPT, kept_logs

    files = dump_files()
    filler = b"".join(b"[ 3000.%06d] filler line of a long ring\n" % i for i in range(12_000))
    files["dom0.log"] = filler + files["dom0.log"]
    assert len(files["dom0.log"]) > LOG_BYTES_KEPT
    if archived:
        path = make_tar(tmp_path / "dump.tar.gz", files)
    else:
        path = tmp_path / DUMP
        path.mkdir()
        for name, data in files.items():
            (path / name).write_bytes(data)
    result = analyse_path(path)
    kept = kept_logs(path, result)
    assert sorted(kept) == ["dom0.log", "xen-crashdump-analyser.log", "xen.log"]
    assert kept["xen.log"]["text"] == files["xen.log"].decode()
    dom0 = kept["dom0.log"]
    assert dom0["first_line"] > 1 and len(dom0["text"]) <= LOG_BYTES_KEPT
    lines = dom0["text"].splitlines()
    for item in (e for e in result["evidence"] if e["file"] == "dom0.log"):
        assert lines[item["line"] - dom0["first_line"]] == item["text"]


def test_a_dump_of_many_logs_keeps_the_cited_ones_first(tmp_path):
    from agent.crashdumps import LOGS_KEPT, kept_logs

    files = dump_files()
    files.update({f"var/log/other-{i:02d}.log": b"nothing here\n" for i in range(LOGS_KEPT + 5)})
    path = make_tar(tmp_path / "many.tar.gz", files)
    result = analyse_path(path)
    kept = kept_logs(path, result)
    assert len(kept) == LOGS_KEPT
    assert {e["file"] for e in result["evidence"]} <= set(kept)
