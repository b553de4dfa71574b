"""What a long command is doing, on stderr, while its answer stays alone on stdout.

One reporter for every command line of the project (the agent's CLI and `serve`, the
demo, the lab, the console's seeding): a phase says what runs now and, where known, how
far ("2 of 3", "14 s of 600 s": the bound it gives up at); its end says what was done and
how long it took; a service ends its start-up with one "ready: ..." line. On a terminal
the phase's line is rewritten in place; elsewhere (CI, logs) each line is printed whole,
no more than one per `interval` seconds per phase.

Plain Python 3.6 and its standard library: the agent's package may hold nothing else.
"""

import sys
import threading
import time
from contextlib import contextmanager


def _seconds(value):
    return f"{value:.1f} s" if value < 10 else f"{value:.0f} s"


class Progress:
    def __init__(self, stream=None, interval=1.0, tty=None, clock=time.monotonic, quiet_for=0.0):
        """`quiet_for`: say nothing about a phase that ends within so many seconds (a
        command that is quick as usual prints nothing more than before)."""
        self.stream = stream if stream is not None else sys.stderr
        if tty is None:
            isatty = getattr(self.stream, "isatty", None)
            tty = bool(isatty and isatty())
        self.tty = tty
        self.interval = interval
        self.quiet_for = quiet_for
        self.clock = clock
        self.started = clock()
        self._lock = threading.Lock()
        self._what = None
        self._phase_started = 0.0
        self._last_said = None  # when this phase last printed a line; None: never
        self._open_line = False  # a terminal line waiting to be rewritten or ended

    # The phases --------------------------------------------------------------------------

    def phase(self, what, note=None):
        """A new phase begins: `what` it does (the last one, if any, is simply over)."""
        with self._lock:
            self._what = what
            self._phase_started = self.clock()
            self._last_said = None
            if not self.quiet_for:
                self._say(what + (": " + note if note else "..."), final=False)

    def update(self, done=None, total=None, bound=None, note=None, force=False):
        """How far the phase is: `done` of `total`, the seconds it has run against `bound`,
        and a `note` (e.g. each guest's state). Printed at most once per interval unless
        on a terminal or `force`d (a state that changed)."""
        with self._lock:
            if self._what is None:
                return
            now = self.clock()
            elapsed = now - self._phase_started
            if elapsed < self.quiet_for:
                return
            if not (self.tty or force) and self._last_said is not None:
                if now - self._last_said < self.interval:
                    return
            parts = []
            if done is not None:
                parts.append(f"{done} of {total}" if total is not None else str(done))
            if bound is not None:
                parts.append(f"{_seconds(elapsed)} of {_seconds(bound)}")
            else:
                parts.append(_seconds(elapsed))
            if note:
                parts.append(note)
            self._say("{}: {}".format(self._what, ", ".join(parts)), final=False)

    def done(self, result=None):
        """The phase is over: what it did, and how long it took."""
        with self._lock:
            if self._what is None:
                return
            elapsed = self.clock() - self._phase_started
            if self._last_said is not None or elapsed >= self.quiet_for:
                text = "{}: {}".format(self._what, result or "done")
                self._say(f"{text} ({_seconds(elapsed)})", final=True)
            self._what = None

    def ready(self, what):
        """A service is up: one clear line, after its start-up phases."""
        self.done()
        with self._lock:
            self._say(f"ready: {what} (after {_seconds(self.clock() - self.started)})")

    def say(self, line):
        """A line of its own (a restart, a warning), between phases' lines."""
        with self._lock:
            self._say(line)

    # Waiting ------------------------------------------------------------------------------

    @contextmanager
    def running(self, what, bound=None, result=None):
        """`what` runs in the body; its elapsed time (against `bound`) is told each interval
        from a thread, as long as the body takes. Ends the phase with `result`."""
        self.phase(what)
        stop = threading.Event()

        def tick():
            while not stop.wait(min(self.interval, 0.5) if self.tty else self.interval):
                self.update(bound=bound)

        ticker = threading.Thread(target=tick, daemon=True)
        ticker.start()
        try:
            yield self
        except BaseException:
            stop.set()
            ticker.join()
            self.done("failed")
            raise
        stop.set()
        ticker.join()
        self.done(result)

    # Output -------------------------------------------------------------------------------

    def _say(self, line, final=True):
        if self.tty:
            # Rewrite the open line in place; a final line ends it.
            prefix = "\r\x1b[K" if self._open_line else ""
            self.stream.write(prefix + line + ("\n" if final else ""))
            self._open_line = not final
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
        self._last_said = self.clock()
