"""What a request that waits is doing, for its sender to watch from another connection.

A request that waits on hosts, a pool master or a notification target (a preview asking
every member, a pool's first log-in, a test message) cannot answer before it is done. Its
sender names it with a progress id, the `Progress-Id` header (the API) or the `_progress`
query parameter (the pages' script), and reads `GET /api/progress/<id>/` meanwhile: what
it is doing now, how many of how many, and when it gives up. Services say what they do
with `progress_note()`, which costs nothing when nobody watches (every worker task, every
request without an id).

Records live in the cache (Redis, shared by every web process) under the sender's user,
so nobody reads another user's progress, and are kept `KEEP_SECONDS` after the last word.
"""

from __future__ import annotations

import re
import threading
import time
from contextvars import ContextVar
from dataclasses import dataclass, field

from django.core.cache import cache
from django.http import JsonResponse

PROGRESS_HEADER = "Progress-Id"
PROGRESS_PARAMETER = "_progress"
ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{16,64}")
KEEP_SECONDS = 600
NOTES_KEPT = 50


def progress_key(user_id: int, progress_id: str) -> str:
    return f"progress:{user_id}:{progress_id}"


@dataclass
class _Watch:
    """The progress record of one request, written through to the cache at each note."""

    progress_id: str
    request: object
    started: float = field(default_factory=time.time)
    notes: list = field(default_factory=list)
    now: dict = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def owner(self) -> int | None:
        # Known once the request is authenticated: the session's user, or the API's token
        # user (Django REST framework sets it on the request once it authenticated it).
        user = getattr(self.request, "user", None)
        return user.pk if user is not None and user.is_authenticated else None

    def note(self, doing: str, done, total, gives_up_after) -> None:
        with self.lock:
            at = round(time.time() - self.started, 1)
            self.now = {
                "doing": doing,
                "done": done,
                "total": total,
                "gives_up_after": gives_up_after,
                "since": at,
            }
            if not self.notes or self.notes[-1]["doing"] != doing:
                self.notes = [*self.notes, {"at": at, "doing": doing}][-NOTES_KEPT:]
            self._write(state="running", status_code=None)

    def finish(self, status_code: int) -> None:
        with self.lock:
            self._write(state="finished", status_code=status_code)

    def _write(self, *, state: str, status_code: int | None) -> None:
        owner = self.owner()
        if owner is None:
            return
        record = {
            "id": self.progress_id,
            "method": self.request.method,
            "path": self.request.path,
            "state": state,
            "status_code": status_code,
            "started": self.started,
            "finished": time.time() if state == "finished" else None,
            **(self.now or {"doing": "", "done": None, "total": None, "gives_up_after": None}),
            "notes": self.notes,
        }
        cache.set(progress_key(owner, self.progress_id), record, timeout=KEEP_SECONDS)


_watching: ContextVar[_Watch | None] = ContextVar("progress_watch", default=None)


def progress_note(
    doing: str,
    *,
    done: int | None = None,
    total: int | None = None,
    gives_up_after: float | None = None,
) -> None:
    """Say what the request is doing now (`done` of `total`, giving up after
    `gives_up_after` seconds); nothing happens unless its sender watches."""
    watch = _watching.get()
    if watch is not None:
        watch.note(doing, done, total, gives_up_after)


def progress_watched() -> bool:
    """Whether anybody watches this request (to skip building notes nobody reads)."""
    return _watching.get() is not None


def progress_read(user_id: int, progress_id: str) -> dict | None:
    """The record of `user_id`'s request `progress_id`, with its age, or None."""
    record = cache.get(progress_key(user_id, progress_id))
    if record is None:
        return None
    end = record["finished"] or time.time()
    return {**record, "elapsed": round(end - record["started"], 1)}


class ProgressMiddleware:
    """Watches a request that carries a progress id, from its start to its answer."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        progress_id = request.headers.get(PROGRESS_HEADER) or request.GET.get(PROGRESS_PARAMETER)
        if not progress_id:
            return self.get_response(request)
        if not ID_PATTERN.fullmatch(progress_id):
            return JsonResponse(
                {
                    "message": f"A progress id ({PROGRESS_HEADER} header or "
                    f"{PROGRESS_PARAMETER} parameter) is 16 to 64 letters, digits, '-' or "
                    "'_', such as a UUID; nothing was done.",
                    "detail": {"progress_id": progress_id[:80]},
                },
                status=400,
            )
        watch = _Watch(progress_id, request)
        token = _watching.set(watch)
        try:
            watch.note("Started", None, None, None)
            response = self.get_response(request)
        except BaseException:
            watch.finish(500)
            raise
        finally:
            _watching.reset(token)
        watch.finish(response.status_code)
        return response
