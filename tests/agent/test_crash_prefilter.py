"""grep finding the lines of a large log gives exactly the hits, line numbers and context
of reading it whole, and the same verdict; without grep the whole read is used."""

import random

import pytest

from agent.crash import analyse, prefilter
from agent.crash.rules import NEEDLES
from agent.crash.scan import scan

from .test_crash_scan import big_log, same_verdict, small_tail  # noqa: F401 - a fixture

NOISE = "Nov 25 06:{m:02d}:{s:02d} xs1 kernel: [{up:12.6f}] device vif{a}.0 entered {word} mode"


def hits_of(iterator) -> list[tuple]:
    """Hits with their context, read while each is current (as the analyser reads them)."""
    return [(h.line, h.pos, h.text, h.context()) for h in iterator]


def whole_read(path) -> list[tuple]:
    with open(path, "rb") as handle:
        return hits_of(scan(iter(lambda: handle.read(1 << 20), b"")))


def write_log(path, seed: int) -> None:
    rng = random.Random(seed)
    words = ["promiscuous", "DEBUG: x", "blocking", "forwarding", "a\rb", "x" * 5000]
    lines = []
    for i in range(60_000):
        if rng.random() < 0.002:
            needle = rng.choice(NEEDLES).decode()
            lines.append(f"Nov 25 06:00:00 xs1 kernel: [{i}.0] odd {needle}: here at {i}")
        else:
            word = rng.choice(words) if rng.random() < 0.05 else "promiscuous"
            lines.append(NOISE.format(m=i // 3600 % 60, s=i % 60, up=i / 10, a=i % 64, word=word))
    path.write_bytes("\n".join(lines).encode() + b"\n")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_grep_finds_the_hits_of_a_whole_read(tmp_path, monkeypatch, seed):
    monkeypatch.setattr(prefilter, "MIN_BYTES", 0)
    path = tmp_path / "kern.log"
    write_log(path, seed)
    expected = whole_read(path)
    assert len(expected) > 50
    assert hits_of(prefilter.scan_file(path)) == expected


def test_a_hit_on_the_first_and_last_lines_and_at_the_split(tmp_path, monkeypatch):
    monkeypatch.setattr(prefilter, "MIN_BYTES", 0)
    path = tmp_path / "kern.log"
    noise = [f"Nov 25 06:00:00 xs1 kernel: line {i}" for i in range(20_000)]
    size = sum(len(line) + 1 for line in noise)
    half, at = size // 2, 0
    for index, line in enumerate(noise):  # the first line of the second half
        at += len(line) + 1
        if at > half:
            noise[index + 1] = "Nov 25 06:00:00 xs1 kernel: Kernel panic - not syncing: split"
            break
    noise[0] = "Nov 25 06:00:00 xs1 kernel: BUG: first"
    noise[-1] = "Nov 25 06:00:00 xs1 kernel: Oops: last"
    path.write_text("\n".join(noise) + "\n")
    found = hits_of(prefilter.scan_file(path))
    assert [h[:3] for h in found] == [h[:3] for h in whole_read(path)]
    assert [h[0] for h in found] == [1, index + 2, 20_000]


@pytest.mark.parametrize("layout", ["fence early", "no fence at all"])
def test_the_verdict_is_the_same_with_and_without_grep(tmp_path, small_tail, monkeypatch, layout):  # noqa: F811
    monkeypatch.setattr(prefilter, "MIN_BYTES", 0)
    path = tmp_path / "kern.log"
    big_log(path, 40_000, fence_at=2_000 if layout == "fence early" else None)
    with_grep = analyse.analyse_path(path)
    monkeypatch.setattr(prefilter.shutil, "which", lambda name: None)
    assert prefilter.scan_file(path) is None
    same_verdict(with_grep, analyse.analyse_path(path))
