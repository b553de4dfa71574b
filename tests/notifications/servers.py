"""Real servers on loopback for notifications to reach: an SMTP server (aiosmtpd) and an
HTTP server (http.server in a thread) that answer as scripted and keep what they got."""

from __future__ import annotations

import email
import email.policy
import logging
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Received:
    at: float  # time.monotonic() on arrival
    headers: object  # http.client.HTTPMessage: names in any case
    body: bytes


class _MailHandler:
    def __init__(self, box: list):
        self.box = box

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.box.append((time.monotonic(), envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 2.0.0 Ok: queued as TEST"


class SMTPServer:
    """aiosmtpd on a free loopback port; `messages` are (arrival, from, to, EmailMessage)."""

    def __init__(self):
        logging.getLogger("mail.log").setLevel(logging.WARNING)  # a line per SMTP command
        self.messages: list = []
        self.port = free_port()
        self.controller = Controller(
            _MailHandler(self.messages), hostname="127.0.0.1", port=self.port
        )

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *exc):
        self.controller.stop()


@dataclass
class HTTPReceiver:
    """An HTTP server that answers each POST with the next scripted (status, body), then
    with the last one again, and keeps every request."""

    script: list[tuple[int, bytes]] = field(default_factory=lambda: [(200, b"thanks")])
    requests: list[Received] = field(default_factory=list)

    def __enter__(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append(Received(time.monotonic(), self.headers, body))
                index = min(len(receiver.requests), len(receiver.script)) - 1
                status, answer = receiver.script[index]
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
