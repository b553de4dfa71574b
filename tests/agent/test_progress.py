"""The progress reporter every long command uses (agent/progress.py)."""

import io

from agent.progress import Progress


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_off_a_terminal_each_phase_prints_plain_lines_at_most_one_a_second():
    clock, out = Clock(), io.StringIO()
    progress = Progress(stream=out, clock=clock)
    progress.phase("waiting for the guests")
    for _ in range(30):  # ten looks a second for three seconds
        clock.now += 0.1
        progress.update(1, 3, bound=600, note="lab-02 booting")
    progress.done("3 up")
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert lines[0] == "waiting for the guests..."
    assert lines[1].startswith("waiting for the guests: 1 of 3, ")
    assert lines[1].endswith(" s of 600 s, lab-02 booting")
    assert len(lines) <= 6  # start, about one a second, the end
    assert lines[-1] == "waiting for the guests: 3 up (3.0 s)"


def test_a_changed_state_is_told_at_once():
    clock, out = Clock(), io.StringIO()
    progress = Progress(stream=out, clock=clock)
    progress.phase("hosts accepted")
    progress.update(0, 3)
    clock.now += 0.2
    progress.update(1, 3, force=True)
    assert out.getvalue().splitlines()[-1] == "hosts accepted: 1 of 3, 0.2 s"


def test_on_a_terminal_the_line_is_rewritten_in_place_and_ends_with_the_result():
    clock, out = Clock(), io.StringIO()
    progress = Progress(stream=out, clock=clock, tty=True)
    progress.phase("migrations")
    clock.now += 1.5
    progress.update()
    progress.done()
    assert out.getvalue() == (
        "migrations...\r\x1b[Kmigrations: 1.5 s\r\x1b[Kmigrations: done (1.5 s)\n"
    )


def test_a_service_ends_its_start_up_with_one_ready_line():
    clock, out = Clock(), io.StringIO()
    progress = Progress(stream=out, clock=clock)
    progress.phase("connecting to the broker")
    clock.now += 2
    progress.ready("agent serving xs-1")
    assert out.getvalue().splitlines()[-2:] == [
        "connecting to the broker: done (2.0 s)",
        "ready: agent serving xs-1 (after 2.0 s)",
    ]


def test_a_phase_quicker_than_quiet_for_says_nothing():
    out = io.StringIO()
    with Progress(stream=out, quiet_for=1.0).running("probe io"):
        pass
    assert out.getvalue() == ""
