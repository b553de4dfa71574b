"""Secrets the console must use again but never shows: pools' passwords, web-hook secrets.

They are encrypted at rest with the console's key (settings.SECRETS_KEY_FILE, a Fernet key
made on first use, readable by the console's user only), so a copy of the database alone
gives none away. Keep the key with the database's backups: without it each secret must be
typed again.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


class SecretUnreadable(Exception):
    """A secret encrypted with another key than this console's (or damaged)."""


def _key() -> Fernet:
    key_file = Path(settings.SECRETS_KEY_FILE)
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        try:
            descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first: use that one
            pass
        else:
            with os.fdopen(descriptor, "wb") as out:
                out.write(Fernet.generate_key())
    return Fernet(key_file.read_bytes().strip())


def secret_encrypt(text: str) -> str:
    return _key().encrypt(text.encode()).decode()


def secret_decrypt(token: str) -> str:
    try:
        return _key().decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable(
            f"it cannot be decrypted with this console's key ({settings.SECRETS_KEY_FILE})"
        ) from None
