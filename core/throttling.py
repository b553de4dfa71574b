"""Log-in throttling, by django-axes: failures are counted per user name and per client
address, in the cache (Redis), so every web process sees them.

Every log-in form (the console's and /admin/login/) goes through Django's authenticate(),
where axes' backend refuses a locked-out client. The settings point axes at this module:
the name as the log-in form reads it, the client address, the lockout page, and a handler
that holds each counter to its own limit.
"""

from __future__ import annotations

import ipaddress
import unicodedata

from axes.handlers.cache import AxesCacheHandler
from axes.helpers import get_cache, get_client_cache_keys, make_cache_key_list
from django.conf import settings
from django.shortcuts import render

from .services.auth import login_failure_record, login_locked_out_record

# Which setting limits each counter, by axes' name for it (AXES_LOCKOUT_PARAMETERS).
LIMIT_SETTINGS = {"username": "LOGIN_FAILURES_PER_USER", "ip_address": "LOGIN_FAILURES_PER_ADDRESS"}
# Longer than any user name (150): what is counted or recorded of a name stays bounded.
NAME_CAP = 200


def normalised_name(raw) -> str:
    """The name as Django's log-in form reads it (strip, NFKC), ignoring case.

    Counting the raw text let " victim " and full-width "ｖｉｃｔｉｍ" log in while
    "victim" was locked out.
    """
    return unicodedata.normalize("NFKC", str(raw or "")[:NAME_CAP].strip()).casefold()


def login_name(request, credentials) -> str:
    """AXES_USERNAME_CALLABLE: the name a failure counts against."""
    raw = (credentials or {}).get("username")
    if raw is None:
        raw = request.POST.get("username")
    # Axes keys a name and an address alike (a hash of the bare value): without the prefix
    # failures for the user name "192.0.2.7" would count against that address.
    return f"name:{normalised_name(raw)}"


def _parsed(address: str):
    try:
        return ipaddress.ip_address(address)
    except ValueError:
        return None


def client_address(request) -> str:
    """AXES_CLIENT_IP_CALLABLE: the client's address.

    The peer's address, unless the peer is a trusted proxy (TRUSTED_PROXIES): then the
    right-most X-Forwarded-For address that is not a trusted proxy, the one our proxy
    saw. Entries to its left are whatever the client sent, so they are never believed.
    """
    trusted = [ipaddress.ip_network(entry, strict=False) for entry in settings.TRUSTED_PROXIES]

    def is_trusted(address) -> bool:
        return address is not None and any(address in network for network in trusted)

    peer = request.META.get("REMOTE_ADDR", "")
    if not is_trusted(_parsed(peer)):
        return peer
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
    hops = [_parsed(hop.strip()) for hop in forwarded if hop.strip()]
    for hop in reversed(hops):
        if not is_trusted(hop):
            # Garbage where our proxy writes the address: count the proxy, not the text.
            return str(hop) if hop is not None else peer
    return peer


def lockout_period(request=None):
    """AXES_COOLOFF_TIME, read when asked so LOGIN_LOCKOUT_MINUTES (and tests) apply."""
    return settings.LOGIN_LOCKOUT


def lockout_message() -> str:
    minutes = int(settings.LOGIN_LOCKOUT.total_seconds() // 60)
    return f"Too many failed log-ins; try again in {minutes} minutes."


def lockout_response(request, original_response=None, credentials=None):
    """AXES_LOCKOUT_CALLABLE: the log-in page again, saying why, with 429."""
    return render(
        request,
        "registration/login.html",
        {"lockout": lockout_message(), "next": request.POST.get("next", "")},
        status=429,
    )


class LoginThrottleHandler(AxesCacheHandler):
    """Axes' cache handler, with a limit per counter and an audit event per failure.

    Axes holds every counter to one AXES_FAILURE_LIMIT; the console allows an address
    more failures (many users behind one NAT) than one name. A lockout starts with the
    attempt after the one that reached a limit.
    """

    def __init__(self):
        pass  # axes' keeps the cache object it found at start-up; see `cache`

    @property
    def cache(self):
        # Looked up on each use, as Django intends: its cache connections are per thread
        # and follow a changed CACHES setting (each test has its own key prefix).
        return get_cache()

    def _counters(self, request, credentials):
        keys = get_client_cache_keys(request, credentials)
        limits = [getattr(settings, LIMIT_SETTINGS[p]) for p in settings.AXES_LOCKOUT_PARAMETERS]
        return zip(keys, limits, strict=True)

    def is_locked(self, request, credentials=None) -> bool:
        return any(
            self.cache.get(key, default=0) >= limit
            for key, limit in self._counters(request, credentials)
        )

    def user_login_failed(self, sender, credentials: dict, request=None, **kwargs):
        if request is not None:
            typed = str((credentials or {}).get("username") or "")
            # The backend flags a request it refused for an existing lockout.
            record = login_locked_out_record if request.axes_locked_out else login_failure_record
            record(username=typed, address=request.axes_ip_address)
        super().user_login_failed(sender, credentials, request, **kwargs)

    def user_logged_in(self, sender, request, user, **kwargs):
        super().user_logged_in(sender, request, user, **kwargs)
        # A success forgives the name's failures, not the address's: logging in to one's
        # own account must not reset an address that keeps guessing others' passwords.
        name = login_name(request, {"username": user.get_username()})
        self.cache.delete(make_cache_key_list([{"username": name}])[0])
