"""Sealed messages: who sent a message through the broker, for what, and until when.

Redis carries every call to an agent, every answer and every report, and anyone who can
reach Redis can put a message there. So nothing read from it is believed unless it is
sealed: signed with Ed25519 by its sender over the sender's name, what the message is
for (a call to one host, the answer to one request, a report of one host), when it was
issued and until when it holds, a random nonce, and the payload.

- the console seals calls with its key; an agent opens them with the console's public
  key, installed beside it (`agent install-key`), and refuses any other;
- an agent seals its answers and reports with its host's own key, made on first start;
  the console learns that public key when a pool-admin accepts the host (its
  fingerprint is on the Hosts page) and opens everything else from that host with it.

A message opened once is not opened again (its nonce is remembered until it expires),
so a copy replayed from the broker is refused too.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import threading
import time
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from .errors import AgentError

SEAL_VERSION = 1
KEY_PREFIX = "ed25519:"
# How long a sealed message holds when its sender gives no time: a little over the
# console's longest wait for an answer, so a message stuck in the broker dies soon.
DEFAULT_TTL = 120.0
# Clocks of console and hosts may differ this much before a fresh message looks stale.
CLOCK_SKEW = 30.0


class SealRefused(AgentError):
    """A message that is not sealed, or not by whom it should be, or not for this."""


def load_or_create_key(path: Path) -> Ed25519PrivateKey:
    """The private key kept in `path` (PEM, readable by its owner only), made if absent."""
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    partial = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(pem)
    try:
        os.link(partial, path)  # two processes starting at once keep one key
    except FileExistsError:
        pass
    finally:
        partial.unlink()
    return _read_key(path)


def _read_key(path: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise AgentError(f"{path} holds no Ed25519 private key.")
    return key


def public_text(key: Ed25519PrivateKey) -> str:
    """The public half as one line of text: `ed25519:<base64 of its 32 bytes>`."""
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return KEY_PREFIX + base64.b64encode(raw).decode()


def parse_public(text: str) -> Ed25519PublicKey:
    """A public key from its text; a clear error for anything else."""
    if not isinstance(text, str) or not text.startswith(KEY_PREFIX):
        raise SealRefused(f"not a public key (it must start with {KEY_PREFIX!r})")
    try:
        raw = base64.b64decode(text[len(KEY_PREFIX) :], validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError as exc:
        raise SealRefused(f"not a public key: {exc}") from None


def fingerprint(text: str) -> str:
    """What an admin compares by eye, as ssh-keygen -l prints it: SHA256:<base64>."""
    raw = base64.b64decode(text[len(KEY_PREFIX) :])
    return "SHA256:" + base64.b64encode(hashlib.sha256(raw).digest()).decode().rstrip("=")


def _canonical(fields: dict) -> bytes:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def seal(
    key: Ed25519PrivateKey, *, signer: str, purpose: str, payload: Any, ttl: float = DEFAULT_TTL
) -> dict:
    """A sealed message: `payload` from `signer` for `purpose`, holding for `ttl` seconds."""
    now = time.time()
    fields = {
        "seal": SEAL_VERSION,
        "signer": signer,
        "purpose": purpose,
        "issued": round(now, 3),
        "expires": round(now + ttl, 3),
        "nonce": secrets.token_hex(16),
        "payload": payload,
    }
    signature = key.sign(_canonical(fields))
    return {**fields, "signature": base64.b64encode(signature).decode()}


class Opener:
    """Opens sealed messages, each one once: it remembers the nonces it has seen.

    `remember(nonce, seconds)` may be given to share that memory between processes (the
    console's workers use Redis); it returns False for a nonce it already holds."""

    def __init__(self, remember=None):
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()
        self._remember = remember

    def open(self, message: Any, public: str, *, signer: str, purpose: str) -> Any:
        """The payload of `message`, if `signer` sealed it (with the key `public`) for
        `purpose` and it still holds; SealRefused naming what is wrong otherwise."""
        fields = self._fields(message)
        if fields["signer"] != signer:
            raise SealRefused(f"sealed by {fields['signer']!r}, not by {signer!r}")
        if fields["purpose"] != purpose:
            raise SealRefused(f"sealed for {fields['purpose']!r}, not for {purpose!r}")
        try:
            signature = base64.b64decode(message["signature"], validate=True)
            parse_public(public).verify(signature, _canonical(fields))
        except (InvalidSignature, ValueError, TypeError):
            raise SealRefused(f"the signature is not {signer}'s") from None
        now = time.time()
        if fields["expires"] < now - CLOCK_SKEW or fields["issued"] > now + CLOCK_SKEW:
            raise SealRefused(
                f"issued at {fields['issued']:.0f}, holding until {fields['expires']:.0f}, "
                f"and it is {now:.0f} now (check both clocks: NTP)"
            )
        self._once(fields["nonce"], fields["expires"] + CLOCK_SKEW, now)
        return fields["payload"]

    @staticmethod
    def _fields(message: Any) -> dict:
        if not isinstance(message, dict) or "signature" not in message:
            raise SealRefused("the message is not sealed")
        if message.get("seal") != SEAL_VERSION:
            raise SealRefused(f"seal version {message.get('seal')!r}, not {SEAL_VERSION}")
        names = ("seal", "signer", "purpose", "issued", "expires", "nonce", "payload")
        missing = [name for name in names if name not in message]
        if missing or set(message) - {*names, "signature"}:
            raise SealRefused("the seal's fields are not " + ", ".join(names))
        fields = {name: message[name] for name in names}
        if not all(isinstance(fields[n], int | float) for n in ("issued", "expires")):
            raise SealRefused("the seal's times are not numbers")
        return fields

    def _once(self, nonce: str, keep_until: float, now: float) -> None:
        if self._remember is not None:
            if not self._remember(nonce, max(1.0, keep_until - now)):
                raise SealRefused("this message was opened before: a replayed copy")
            return
        with self._lock:
            if nonce in self._seen:
                raise SealRefused("this message was opened before: a replayed copy")
            if len(self._seen) > 10_000:
                self._seen = {n: t for n, t in self._seen.items() if t > now}
            self._seen[nonce] = keep_until
