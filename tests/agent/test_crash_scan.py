"""The analyser's scan: only lines holding a needle, right line numbers, context, tail first."""

import random
from pathlib import Path

import pytest

from agent.crash import analyse, analyse_lines, analyse_path, archive
from agent.crash.scan import MAX_LINE_BYTES, line_blocks, scan

FIXTURES = Path(__file__).parent / "fixtures" / "crash"
FENCE = (FIXTURES / "o2cb_disk_syslog_panic.log").read_text().splitlines()[6:10]


def noise(count: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    words = "tapdisk vif device entered forwarding state xapi event path checker up sm".split()
    return [
        f"Nov 25 09:{i // 60 % 60:02d}:{i % 60:02d} xs1 kernel: [{i:8d}.000000] "
        + " ".join(rng.choice(words) for _ in range(rng.randrange(4, 12)))
        for i in range(count)
    ]


def chunks(data: bytes, size: int):
    return (data[i : i + size] for i in range(0, len(data), size))


def test_hits_line_numbers_and_context_across_blocks():
    lines = noise(120_000)
    wanted = {17: "kernel BUG at fs/ocfs2/dir.c:120!", 64_000: "Kernel panic - x", 120_000: "Oops"}
    for number, text in wanted.items():
        lines[number - 1] = f"[ 1.000000] {text}"
    data = ("\n".join(lines) + "\n").encode()
    hits = []
    for hit in scan(chunks(data, 1_000_003)):
        before, after = hit.context(3)
        hits.append((hit.line, hit.text, before, after))
    assert [(h[0], h[1]) for h in hits] == [(n, lines[n - 1]) for n in sorted(wanted)]
    line, _text, before, after = hits[1]
    assert before == lines[line - 4 : line - 1] and after == lines[line : line + 3]
    assert hits[2][3] == []  # the last line has nothing after it


def test_needle_boundaries():
    text = (
        "BUG: unable to handle kernel NULL pointer dereference at 0000000000000008\n"
        "squeezed: DEBUG: balance\n"
        "XBUG at nothing\n"
        "kernel BUG at fs/ocfs2/super.c:1!\r\n"
        "DEBUG at level 3\n"
        "(XEN) Panic on CPU 0:"  # no line end at the end of the log
    )
    hits = [(hit.line, hit.text) for hit in scan([text.encode()])]
    assert hits == [
        (1, "BUG: unable to handle kernel NULL pointer dereference at 0000000000000008"),
        (4, "kernel BUG at fs/ocfs2/super.c:1!"),
        (6, "(XEN) Panic on CPU 0:"),
    ]


def test_a_line_without_end_is_cut_not_swallowed():
    data = b"a" * (9 << 20) + b" Kernel panic - not syncing: x " + b"b" * 1000 + b"\nOops [#1]\n"
    hits = list(scan(chunks(data, 1 << 20)))
    assert [hit.line for hit in hits] == [1, 2]
    assert len(hits[0].text) <= MAX_LINE_BYTES


def test_line_blocks_add_missing_line_ends():
    blocks = list(line_blocks(["a", "b\n", b"c", b"d\r\n"], size=4))
    assert b"".join(blocks) == b"a\nb\nc\nd\r\n"


def big_log(path: Path, total: int, fence_at: int | None, extra: list[str] = ()) -> list[str]:
    lines = noise(total, seed=7)
    if fence_at is not None:
        lines[fence_at:fence_at] = FENCE
    lines += list(extra)
    path.write_text("\n".join(lines) + "\n")
    return lines


@pytest.fixture
def small_tail(monkeypatch):
    """Tail-first reading at a scale a test can afford."""
    monkeypatch.setattr(analyse, "TAIL_BYTES", 256 << 10)
    monkeypatch.setattr(analyse, "WINDOW_BYTES", 64 << 10)


def same_verdict(first: dict, second: dict) -> None:
    for key in ("cause", "details", "crash_time", "signature"):
        assert first[key] == second[key], key
    assert [(e["line"], e["text"]) for e in first["evidence"]] == [
        (e["line"], e["text"]) for e in second["evidence"]
    ]


def test_fence_at_the_end_of_a_large_log_is_read_from_its_tail(tmp_path, small_tail, monkeypatch):
    path = tmp_path / "kern.log"
    lines = big_log(path, 40_000, fence_at=39_900)
    whole = analyse_lines([("kern.log", lines)])
    monkeypatch.setattr(archive.Source, "blocks", lambda self: pytest.fail("read the whole log"))
    tail_first = analyse_path(path)
    same_verdict(tail_first, whole)
    assert [e["line"] for e in tail_first["evidence"]] == [39_901, 39_902, 39_903, 39_904]


@pytest.mark.parametrize(
    "layout",
    [
        "fence early, quiet afterwards",
        "fence early, lockups after a reboot",
        "fence just inside the tail",
        "no fence at all",
    ],
)
def test_tail_first_gives_the_whole_scan_verdict(tmp_path, small_tail, layout):
    path = tmp_path / "kern.log"
    reboot = [
        "Nov 26 01:00:00 xs1 kernel: [    3.100000] BUG: soft lockup - CPU#1 stuck for 22s! [a:1]"
    ]
    if layout == "fence early, quiet afterwards":
        lines = big_log(path, 40_000, fence_at=2_000)
    elif layout == "fence early, lockups after a reboot":
        lines = big_log(path, 40_000, fence_at=2_000, extra=reboot)
    elif layout == "fence just inside the tail":
        lines = big_log(path, 40_000, fence_at=37_800)
    else:
        lines = big_log(path, 40_000, fence_at=None, extra=reboot)
    same_verdict(analyse_path(path), analyse_lines([("kern.log", lines)]))


def test_a_hit_knows_the_lines_next_to_it():
    data = b"first BUG: here\nsecond line\nthird Oops\n"
    first, third = list(scan(chunks(data, 7)))
    assert (first.previous_line(), first.next_line()) == (None, "second line")
    assert (third.previous_line(), third.next_line()) == ("second line", None)
    unterminated = list(scan([b"a\nlast BUG: x"]))[0]
    assert (unterminated.previous_line(), unterminated.next_line()) == ("a", None)
