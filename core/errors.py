class ConsoleError(Exception):
    """The one application error: an operation the console refuses, with a reason.

    `message` is one plain sentence for the admin; `detail` is optional
    structured data (for example which hosts did not answer).
    """

    status_code = 409

    def __init__(self, message: str, *, detail=None, status_code: int | None = None):
        super().__init__(message)
        self.message = message
        self.detail = detail
        if status_code is not None:
            self.status_code = status_code


class TransientError(ConsoleError):
    """A failure that may pass by itself (a host that did not answer in time): the step
    runner tries the step again later, a bounded number of times, instead of failing it."""

    status_code = 503


class NotYet(Exception):
    """Raised by a step (or by a workflow before its steps): what it waits for has not
    happened yet. Check again in `again_in` seconds; after `give_up_after` seconds of
    waiting, fail with `failure`."""

    def __init__(self, message: str, *, again_in: float, give_up_after: float, failure: str):
        super().__init__(message)
        self.message, self.again_in = message, again_in
        self.give_up_after, self.failure = give_up_after, failure


class Reschedule(Exception):
    """The run stops here and continues in a new delivery after `countdown` seconds."""

    def __init__(self, countdown: float):
        super().__init__(countdown)
        self.countdown = countdown
