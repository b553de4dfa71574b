"""The keys the host's Celery agent seals and opens messages with (who the host is:
agent/identity.py)."""

import os

from . import identity, signing
from .fsutil import write_atomic
from .hostroot import HostRoot

HOST_KEY = "etc/o2cb-agent/host.key"
CONSOLE_KEY = "etc/o2cb-agent/console.pub"
# The console's public key, for an agent started by the console itself (demo, tests).
CONSOLE_KEY_ENV = "AGENT_CONSOLE_KEY"


def host_key(root: HostRoot):
    """The key this host seals its answers and reports with, made on first use; its public
    half is kept beside it for `hello` (agent/identity.py)."""
    key = signing.load_or_create_key(root.path(HOST_KEY))
    public = signing.public_text(key)
    if identity.published_key(root) != public:
        write_atomic(root.path(identity.HOST_PUBLIC_KEY), public + "\n")
    return key


def console_public_key(root: HostRoot) -> str:
    """The console's public key this host trusts; SealRefused while none is installed."""
    text = os.environ.get(CONSOLE_KEY_ENV, "").strip()
    if not text:
        try:
            text = root.path(CONSOLE_KEY).read_text().strip()
        except FileNotFoundError:
            raise signing.SealRefused(
                f"no console key is installed in /{CONSOLE_KEY}: run "
                "`python -m agent trust-console KEY` with the key the console's "
                "`manage.py console_key` prints"
            ) from None
    signing.parse_public(text)
    return text


def trust_console(root: HostRoot, text: str) -> str:
    """Install the console's public key; returns its fingerprint to compare by eye."""
    signing.parse_public(text.strip())
    path = root.path(CONSOLE_KEY)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.strip() + "\n")
    return signing.fingerprint(text.strip())


def hello(root: HostRoot) -> dict:
    """Who this host is (agent/identity.py), its key made first if it has none yet."""
    host_key(root)
    return identity.hello(root)
