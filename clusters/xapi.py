"""The console's end of XenAPI: a pool's credentials at rest, and sessions on its master.

A pool's password is encrypted with the console's key (core.secrets), so a copy of the
database alone does not give it away. It is decrypted only to log in, and never written
to a log or a page.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import ssl
import threading
import xmlrpc.client
from contextlib import contextmanager
from urllib.parse import urlsplit

import XenAPI
from django.conf import settings

from core.errors import ConsoleError, TransientError
from core.progress import progress_note
from core.secrets import SecretUnreadable, secret_decrypt

from .models import Pool

logger = logging.getLogger(__name__)


class PoolUnreachable(TransientError):
    """The master did not answer (or not in time); it may come back."""


class PoolRefused(ConsoleError):
    """The master refused the credentials: only a pool-admin can mend that."""


class XapiError(ConsoleError):
    """XAPI answered with a failure: `code` is its error code, `details` the rest."""

    def __init__(self, message: str, *, code: str, details: list):
        super().__init__(message, detail={"code": code, "details": details})
        self.code, self.details = code, details


def password_decrypt(pool: Pool) -> str:
    try:
        return secret_decrypt(pool.password_encrypted)
    except SecretUnreadable as exc:
        raise PoolRefused(
            f"The password of pool {pool} is unreadable: {exc}. Enter it again on the pool's page."
        ) from None


def master_url(address: str) -> str:
    """https://ADDRESS/ for a bare address (a bare IPv6 one in brackets); an address with
    its scheme is kept."""
    if "://" in address:
        return address
    try:
        if ipaddress.ip_address(address).version == 6:
            return f"https://[{address}]/"
    except ValueError:
        pass
    return f"https://{address}/"


_DNS_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


def master_address_problem(address: str) -> str | None:
    """Why `address` cannot name a master (None when it can): a host name, an IP address
    (IPv6 in brackets with a port), optionally with a port, or an http(s) URL of one."""
    try:
        parts = urlsplit(master_url(address))
        port = parts.port  # ValueError when out of range or not a number
    except ValueError:
        parts, port = None, None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        return (
            f"{address!r} is not a master's address: give its host name or IP address "
            "(pool-master.example.org, 192.0.2.10), or an https:// URL of one."
        )
    if parts.username is not None or parts.path not in ("", "/") or parts.query or parts.fragment:
        return (
            f"{address!r} holds more than an address: give only the scheme, host and port "
            "(the user and password have fields of their own)."
        )
    if port == 0:
        return f"{address!r}: port 0 is not a port; leave the port out for 443."
    host = parts.hostname
    try:
        ipaddress.ip_address(host)
        return None
    except ValueError:
        pass
    labels = host.rstrip(".").split(".")
    if len(host) > 253 or not all(_DNS_LABEL.fullmatch(label) for label in labels):
        return (
            f"{address!r}: {host!r} is not a host name: letters, digits and hyphens in "
            "dot-separated labels of 1 to 63 characters, none starting or ending with a hyphen."
        )
    return None


class _Transport(xmlrpc.client.SafeTransport):
    """XML-RPC over HTTP or HTTPS with a timeout on every connection."""

    def __init__(self, *, timeout: float, secure: bool, verify: bool):
        context = ssl.create_default_context() if verify else ssl._create_unverified_context()  # noqa: S323 - a pool-admin's choice for a self-signed master
        super().__init__(context=context)
        self.timeout, self.secure = timeout, secure

    def make_connection(self, host):
        if self.secure:
            connection = super().make_connection(host)
        else:
            connection = xmlrpc.client.Transport.make_connection(self, host)
        connection.timeout = self.timeout
        return connection


def _refused(pool: Pool, address: str) -> PoolRefused:
    return PoolRefused(
        f"The master of pool {pool} ({address}) refused the log-in of "
        f"{pool.username}: check the user name and password.",
        detail={"code": "SESSION_AUTHENTICATION_FAILED"},
    )


def _unreachable(pool: Pool, address: str, exc: Exception) -> PoolUnreachable:
    return PoolUnreachable(f"The master of pool {pool} ({address}) cannot be reached: {exc}.")


def _failure(pool: Pool, details: list) -> XapiError:
    code = str(details[0]) if details else "UNKNOWN"
    rest = ", ".join(str(d) for d in details[1:])
    message = f"Pool {pool}: XAPI answered {code}" + (f" ({rest})." if rest else ".")
    return XapiError(message, code=code, details=details)


class _Session(XenAPI.Session):
    """A XenAPI session that follows HOST_IS_SLAVE at every log-in: its first, and the
    library's own when the master answers SESSION_INVALID (xapi restarted on a new
    master after HA or pool.designate_new_master ends every session). `address` is
    where it is logged in."""

    def __init__(self, address: str, transport):
        super().__init__(master_url(address), transport=transport)
        self.address = self.opened_at = address

    def _login(self, method, params):
        for _hop in range(3):
            try:
                return super()._login(method, params)
            except XenAPI.Failure as exc:
                details = list(exc.details)
                if details[:1] != ["HOST_IS_SLAVE"] or len(details) < 2:
                    raise
                logger.info("%s is no longer the pool master, %s is", self.address, details[1])
                progress_note(f"{self.address} is not the pool master: logging in on {details[1]}")
                self.address = str(details[1])
                xmlrpc.client.ServerProxy.__init__(
                    self, master_url(self.address), self.transport, allow_none=True
                )
        raise XenAPI.Failure(["HOST_IS_SLAVE", self.address])


def _open(pool: Pool, address: str, password: str, timeout: float):
    progress_note(f"Logging in to {address} as {pool.username}", gives_up_after=timeout)
    session = _proxy(pool, address, timeout)
    session.login_with_password(pool.username, password, *_LOGIN_TAIL)
    return session


_LOGIN_TAIL = ("2.0", "o2cb-console")


def _proxy(pool: Pool, address: str, timeout: float) -> _Session:
    secure = master_url(address).startswith("https:")
    return _Session(address, _Transport(timeout=timeout, secure=secure, verify=pool.tls_verify))


# One logged-in session per pool and process, shared by its threads. Each use gets its own
# XML-RPC proxy (an HTTP connection is not thread-safe) carrying the shared session ref.
_SESSIONS: dict[int, tuple[tuple, str, str]] = {}  # pool pk -> (credentials, address, ref)
_SESSIONS_LOCK = threading.Lock()


def _credentials(pool: Pool) -> tuple:
    return (pool.master_address, pool.username, pool.password_encrypted, pool.tls_verify)


def _resume(pool: Pool, password: str, timeout: float):
    """A proxy on the cached session, or None. The XenAPI library logs in again by itself
    when the master answers SESSION_INVALID (a restarted xapi, an expired session), with
    the log-in it remembers: that is set here as if this proxy had logged in."""
    with _SESSIONS_LOCK:
        cached = _SESSIONS.get(pool.pk)
    if cached is None or cached[0] != _credentials(pool):
        return None
    _credentials_then, address, ref = cached
    session = _proxy(pool, address, timeout)
    session._session = ref
    session.last_login_method = "login_with_password"
    session.last_login_params = (pool.username, password, *_LOGIN_TAIL)
    return session


def _keep(pool: Pool, session: _Session) -> None:
    if session.address != session.opened_at:  # followed HOST_IS_SLAVE to a new master
        Pool.objects.filter(pk=pool.pk).update(master_address=session.address)
        pool.master_address = session.address
    elif session.address != pool.master_address:  # the pool's record named a new master
        _drop(pool)  # so the next use logs in there
        return
    with _SESSIONS_LOCK:
        _SESSIONS[pool.pk] = (_credentials(pool), session.address, session._session)


def pool_session_forget(pool: Pool) -> None:
    """Log the cached session of `pool` out (credentials changed, pool removed)."""
    with _SESSIONS_LOCK:
        cached = _SESSIONS.pop(pool.pk, None)
    if cached is None:
        return
    session = _proxy(pool, cached[1], settings.XAPI_TIMEOUT)
    try:
        session.session.logout(cached[2])
    except Exception:  # noqa: S110 - the session expires on its own
        pass


def _login(pool: Pool, password: str, timeout: float) -> _Session:
    """A session logged in on the master (HOST_IS_SLAVE followed)."""
    address = pool.master_address
    try:
        return _open(pool, address, password, timeout)
    except XenAPI.Failure as exc:
        details = list(exc.details)
        if details[:1] == ["SESSION_AUTHENTICATION_FAILED"]:
            raise _refused(pool, address) from None
        if details[:1] == ["HOST_IS_SLAVE"]:
            raise PoolUnreachable(
                f"Pool {pool}: no host would say which one is the master."
            ) from None
        raise _failure(pool, details) from None
    except (OSError, xmlrpc.client.ProtocolError, xmlrpc.client.Fault) as exc:
        raise _unreachable(pool, address, exc) from None


@contextmanager
def pool_session(pool: Pool, *, timeout: float | None = None):
    """`session.xenapi` logged in on the pool's master.

    The session is kept for the next use in this process (pool_session_forget logs it
    out). A host that answers HOST_IS_SLAVE names the master (after HA or
    pool.designate_new_master): every log-in follows it, the library's own after
    SESSION_INVALID included, and the pool keeps the new address; a session on a host
    that is no longer the master is dropped, so the next use logs in again. XAPI
    failures become XapiError, no answer PoolUnreachable, refused credentials
    PoolRefused."""
    timeout = settings.XAPI_TIMEOUT if timeout is None else timeout
    password = password_decrypt(pool)
    session = _resume(pool, password, timeout) or _login(pool, password, timeout)
    try:
        yield session.xenapi
    except XenAPI.Failure as exc:
        details = list(exc.details)
        if details[:1] == ["HOST_IS_SLAVE"]:
            _drop(pool)
            raise PoolUnreachable(
                f"Pool {pool}: {session.address} is no longer the master; the next try follows it."
            ) from None
        if details[:1] == ["SESSION_AUTHENTICATION_FAILED"]:  # at a log-in again
            _drop(pool)
            raise _refused(pool, session.address) from None
        _keep(pool, session)
        raise _failure(pool, details) from None
    except (OSError, xmlrpc.client.ProtocolError, xmlrpc.client.Fault) as exc:
        _drop(pool)
        raise _unreachable(pool, session.address, exc) from None
    except Exception:
        _keep(pool, session)
        raise
    _keep(pool, session)


def _drop(pool: Pool) -> None:
    with _SESSIONS_LOCK:
        _SESSIONS.pop(pool.pk, None)
