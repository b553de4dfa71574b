"""Resilience: an oversized upload, from each role, to the page and to the API, is refused
before its body is read; a client that lies about its length or goes away mid-upload
leaves nothing on disk. Real HTTP against a live server, by hand (tests/rawhttp.py)."""

import json
import threading
import time
from pathlib import Path

import pytest

from core.models import Task
from core.services.auth import api_token_create
from tests.conftest import wait_for
from tests.rawhttp import (
    connect,
    multipart_body,
    multipart_head,
    read_response,
    request_head,
    session_headers,
)

pytestmark = pytest.mark.django_db(transaction=True)

TWO_GIB = 2 * 1024**3
# Who sends it, and the answer: who is refused first, then the size.
ROLES = {"anonymous": 401, "read-only": 403, "pool-operator": 413, "pool-admin": 413}
TARGETS = {"api": "/api/crashdumps/", "page": "/crashes/"}


def bytes_under(directory) -> int:
    path = Path(directory)
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.exists() else 0


def files_under(directory) -> list[Path]:
    path = Path(directory)
    return [f for f in path.rglob("*") if f.is_file()] if path.exists() else []


def credentials(role: str, where: str, role_users) -> dict[str, str]:
    if role == "anonymous":
        return {}
    user = role_users[role]
    if where == "api":
        _token, key = api_token_create(user=user, name="upload")
        return {"Authorization": f"Token {key}"}
    return session_headers(user)


@pytest.mark.parametrize("where", TARGETS)
def test_an_oversized_upload_from_each_role_is_refused_before_its_body_is_read(
    live_server, role_users, settings, where
):
    for role, expected in ROLES.items():
        with connect(live_server.url) as sock:
            started = time.monotonic()
            # Only the head: a server that waited for the 2 GiB it announces never answers.
            sock.sendall(
                request_head(
                    live_server.url,
                    TARGETS[where],
                    content_length=TWO_GIB,
                    headers=credentials(role, where, role_users),
                )
            )
            status, headers, body = read_response(sock)
            took = time.monotonic() - started
        assert status == expected, (where, role, status, body[:300])
        assert took < 5, (where, role, took)
        if where == "api":
            assert headers["content-type"] == "application/json"
            assert set(json.loads(body)) == {"message", "detail"}
        if expected == 413:
            assert b"536,870,912 bytes" in body, body[:300]
        assert bytes_under(settings.FILE_UPLOAD_TEMP_DIR) == 0, (where, role)
        assert bytes_under(settings.CRASH_STORE) == 0, (where, role)
    assert not Task.objects.exists()


def test_a_client_that_sends_more_file_than_the_limit_is_cut_off_at_the_limit(
    live_server, operator_user, settings
):
    """The Content-Length passes (within the room for the form around the file) but the
    file is larger than the limit: the streaming limit stops it and removes the spool."""
    # Above FILE_UPLOAD_MAX_MEMORY_SIZE, so the file is spooled to disk as it arrives.
    limit = settings.CRASH_UPLOAD_MAX_BYTES = 4 * 1024 * 1024
    body = multipart_body(b"x" * (limit + 32 * 1024))
    peak = []
    sampling = threading.Event()

    def sample():
        while not sampling.is_set():
            peak.append(bytes_under(settings.FILE_UPLOAD_TEMP_DIR))
            time.sleep(0.002)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        with connect(live_server.url) as sock:
            head = request_head(
                live_server.url,
                "/api/crashdumps/",
                content_length=len(body),
                headers=credentials("pool-operator", "api", {"pool-operator": operator_user}),
            )
            sock.sendall(head + body)
            status, _headers, answer = read_response(sock)
    finally:
        sampling.set()
        sampler.join()
    assert status == 413, answer[:300]
    assert b"larger than the limit of 4,194,304 bytes" in answer
    assert max(peak) <= limit, f"spooled {max(peak):,} bytes past the limit"
    assert files_under(settings.FILE_UPLOAD_TEMP_DIR) == []
    assert bytes_under(settings.CRASH_STORE) == 0
    assert not Task.objects.exists()


def test_a_client_gone_mid_upload_leaves_no_partial_file(live_server, operator_user, settings):
    content_length = 4 * 1024 * 1024
    with connect(live_server.url) as sock:
        sock.sendall(
            request_head(
                live_server.url,
                "/api/crashdumps/",
                content_length=content_length,
                headers=credentials("pool-operator", "api", {"pool-operator": operator_user}),
            )
        )
        sock.sendall(multipart_head() + b"Nov 25 06:00:00 h kernel: x\n" * 40_000)
        wait_for(
            lambda: files_under(settings.FILE_UPLOAD_TEMP_DIR),
            10,
            message="the server never started spooling the upload",
        )
    # The connection is gone with about a quarter of the body sent.
    wait_for(
        lambda: not files_under(settings.FILE_UPLOAD_TEMP_DIR),
        10,
        message="the partial upload was left in the spool",
    )
    time.sleep(0.5)  # and nothing moves it into the store afterwards
    assert bytes_under(settings.CRASH_STORE) == 0
    assert not Task.objects.exists()


def test_a_chunked_upload_is_asked_for_its_length(live_server, operator_user):
    with connect(live_server.url) as sock:
        sock.sendall(
            request_head(
                live_server.url,
                "/api/crashdumps/",
                content_length=None,
                headers={
                    "Transfer-Encoding": "chunked",
                    **credentials("pool-operator", "api", {"pool-operator": operator_user}),
                },
            )
        )
        status, _headers, body = read_response(sock)
    assert status == 411, body[:300]


def test_any_other_address_refuses_a_large_body_before_reading_it(live_server, settings):
    """Logging in (anonymous, before any check) was the way to spool 2 GiB to /tmp."""
    for path in ["/login/", "/api/tokens/", "/admin/login/"]:
        with connect(live_server.url) as sock:
            sock.sendall(request_head(live_server.url, path, content_length=TWO_GIB))
            status, _headers, body = read_response(sock)
        assert status == 413, (path, status, body[:200])
        assert bytes_under(settings.FILE_UPLOAD_TEMP_DIR) == 0
