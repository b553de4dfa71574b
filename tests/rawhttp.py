"""HTTP by hand, for what a client library will not do: claim a length it never sends,
stop half-way through a body, send a body in chunks."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

from django.conf import settings
from django.test import Client

BOUNDARY = "----crash-upload-boundary"


def multipart_head(filename: str = "kern.log") -> bytes:
    return (
        f"--{BOUNDARY}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()


def multipart_tail() -> bytes:
    return f"\r\n--{BOUNDARY}--\r\n".encode()


def multipart_body(content: bytes, filename: str = "kern.log") -> bytes:
    return multipart_head(filename) + content + multipart_tail()


def connect(base_url: str, timeout: float = 10.0) -> socket.socket:
    parts = urlsplit(base_url)
    return socket.create_connection((parts.hostname, parts.port), timeout=timeout)


def request_head(
    base_url: str,
    path: str,
    *,
    content_length: int | None,
    headers: dict[str, str] | None = None,
    content_type: str = f"multipart/form-data; boundary={BOUNDARY}",
) -> bytes:
    host = urlsplit(base_url).netloc
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}", f"Content-Type: {content_type}"]
    if content_length is not None:
        lines.append(f"Content-Length: {content_length}")
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """The status, headers and body of the answer (read until the server closes or the
    announced length arrived)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "-1"))
    while length < 0 or len(body) < length:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not chunk:
            break
        body += chunk
    return status, headers, body


def session_headers(user) -> dict[str, str]:
    """A real session cookie for `user` (the server reads it from the database)."""
    client = Client()
    client.force_login(user)
    name = settings.SESSION_COOKIE_NAME
    return {"Cookie": f"{name}={client.cookies[name].value}"}
