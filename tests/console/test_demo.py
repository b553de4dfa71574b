"""`make demo` keeps its processes running as a service manager would."""

from scripts.demo import note_exit


def test_an_exited_process_is_started_again_unless_it_keeps_exiting():
    exits, give_up = [], False
    for now in (0, 10, 20):
        exits, give_up = note_exit(exits, now)
        assert not give_up, f"the exit at {now} s is the third within a minute"
    assert note_exit(exits, 30)[1], "a fourth exit within a minute: stop"


def test_exits_spread_over_time_never_stop_it():
    exits = []
    for now in range(0, 600, 25):  # one exit every 25 s: at most 3 in any minute
        exits, give_up = note_exit(exits, now)
        assert not give_up
    assert len(exits) == 3, "only the last minute's exits are kept"
