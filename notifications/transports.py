"""How a message reaches a target: e-mail through Django's SMTP backend, a web-hook by an
HTTP POST of the JSON body, signed. Each answers what the other side said."""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import EmailMessage
from django.core.mail.backends.smtp import EmailBackend

from core.secrets import SecretUnreadable, secret_decrypt

from .choices import TargetKind

# How much of an answer the delivery log keeps.
ANSWER_BYTES = 300
SIGNATURE_HEADER = "X-O2CB-Signature"


@dataclass(frozen=True)
class Answer:
    ok: bool
    text: str  # "HTTP 200: ok", "SMTP 250: 2.0.0 Ok: queued", "refused: [Errno 111] ..."
    permanent: bool = False  # trying again cannot help (a 4xx other than 408 and 429)


def body_bytes(body: dict) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value: `t=<unix time>,v1=<hex HMAC-SHA256 of "t." + body>`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def signature_valid(secret: str, header: str, body: bytes, *, now: float, tolerance=300) -> bool:
    """What a receiver checks (README, Notifications): the HMAC, and a recent timestamp so
    a recorded request cannot be replayed later."""
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    expected = signature(secret, timestamp, body).split("v1=", 1)[1]
    return abs(now - timestamp) <= tolerance and hmac.compare_digest(expected, parts.get("v1", ""))


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # A redirected POST becomes a GET or is refused; the target's URL is simply wrong.
    def redirect_request(self, *args, **kwargs):
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def _clip(data: bytes | str) -> str:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    return text[:ANSWER_BYTES]


def webhook_send(*, url: str, secret: str, body: dict, delivery_id: int) -> Answer:
    data = body_bytes(body)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"o2cb-console-notifications/{body['version']}",
        "X-O2CB-Event": body["event"],
        "X-O2CB-Delivery": str(delivery_id),
    }
    if secret:
        headers[SIGNATURE_HEADER] = signature(secret, int(time.time()), data)
    # Only http(s) URLs are saved (services.config checks each target).
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")  # noqa: S310
    try:
        with _opener.open(request, timeout=settings.NOTIFY_TIMEOUT) as response:
            return Answer(True, f"HTTP {response.status}: {_clip(response.read(ANSWER_BYTES))}")
    except urllib.error.HTTPError as exc:
        text = f"HTTP {exc.code}: {_clip(exc.read(ANSWER_BYTES))}"
        # A redirect (not followed) or a refusal stays so; 408, 429 and 5xx may pass.
        return Answer(False, text, permanent=exc.code < 500 and exc.code not in (408, 429))
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return Answer(False, _clip(f"no answer: {reason}"))


class RepliedSMTPBackend(EmailBackend):
    """Django's SMTP backend, keeping the server's reply to the message for the log."""

    last_reply: tuple[int, bytes] | None = None

    def _send(self, email_message):
        smtp = self.connection
        original = smtp.data

        def data(message):
            self.last_reply = original(message)
            return self.last_reply

        smtp.data = data
        try:
            return super()._send(email_message)
        finally:
            del smtp.data


def _smtp_error(exc: Exception) -> Answer:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, reply = next(iter(exc.recipients.values()))
        return Answer(False, _clip(f"SMTP {code}: {_clip(reply)}"), permanent=code >= 500)
    code = getattr(exc, "smtp_code", None)
    if code is not None:
        return Answer(
            False, _clip(f"SMTP {code}: {_clip(exc.smtp_error)}"), permanent=int(code) >= 500
        )
    return Answer(False, _clip(f"no answer: {exc}"))


def email_send(*, recipients: list[str], subject: str, text: str, headers: dict) -> Answer:
    backend = RepliedSMTPBackend(timeout=settings.NOTIFY_TIMEOUT)
    message = EmailMessage(
        subject=subject,
        body=text,
        from_email=settings.NOTIFY_FROM_EMAIL,
        to=recipients,
        headers=headers,
        connection=backend,
    )
    try:
        message.send()
    except (smtplib.SMTPException, OSError) as exc:
        return _smtp_error(exc)
    code, reply = backend.last_reply or (0, b"")
    return Answer(True, f"SMTP {code}: {_clip(reply)}")


def email_subject(body: dict) -> str:
    if body["event"] == "test":
        return "[O2CB console] Test message"
    alert = body["alert"]
    return (
        f"[O2CB console] {body['event'].upper()} {alert['priority_label']}: "
        f"{alert['title']} ({alert['target']['name'] or 'the pool'})"
    )


def email_text(body: dict) -> str:
    if body["event"] == "test":
        return f"A test message from the O2CB storage console.\n\n{body['console_url']}\n"
    alert = body["alert"]
    lines = [
        f"{alert['title']} ({alert['name']}) is still open: the snooze ended."
        if body["event"] == "still_open"
        else f"{alert['title']} ({alert['name']}) was {body['event']}.",
        "",
        alert["message"],
        "",
        f"Priority:  {alert['priority']} ({alert['priority_label']})",
        f"About:     {alert['target']['kind'] or '-'} {alert['target']['name'] or '-'}",
        f"Raised:    {alert['raised_at']}",
    ]
    if alert["previous_priority"]:
        lines.append(f"Was:       priority {alert['previous_priority']}")
    if alert["cleared_at"]:
        lines.append(f"Cleared:   {alert['cleared_at']}")
    lines += ["", body["console_url"], ""]
    return "\n".join(lines)


def send(*, target, body: dict, delivery_id: int) -> Answer:
    if target.kind == TargetKind.WEBHOOK:
        try:
            secret = secret_decrypt(target.secret_encrypted) if target.has_secret else ""
        except SecretUnreadable as exc:
            return Answer(
                False,
                f"not sent: the target's secret is unreadable ({exc}); type it again on the "
                "target's page",
                permanent=True,
            )
        return webhook_send(url=target.url, secret=secret, body=body, delivery_id=delivery_id)
    headers = {
        "Auto-Submitted": "auto-generated",  # RFC 3834: no vacation replies to a robot
        "X-O2CB-Event": body["event"],
        "X-O2CB-Delivery": str(delivery_id),
    }
    if body.get("alert"):
        headers["X-O2CB-Alert"] = body["alert"]["name"]
        headers["X-O2CB-Alert-Id"] = str(body["alert"]["id"])
    return email_send(
        recipients=target.recipients,
        subject=email_subject(body),
        text=email_text(body),
        headers=headers,
    )
