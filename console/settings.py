"""Settings for the O2CB storage console, read from the environment.

Every value has a working default for the embedded demo (SQLite, a local
Redis, sandbox hosts); a real site sets DATABASE_URL, REDIS_URL, SECRET_KEY,
DEBUG=0 and ALLOWED_HOSTS.
"""

import contextlib
import ipaddress
import os
from datetime import timedelta
from pathlib import Path

import dj_database_url

from console.directory import BACKEND as DIRECTORY_BACKEND
from console.directory import SSO_BACKEND, ldap_settings, oidc_settings

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", True)
# The demo key is only acceptable with DEBUG on; `check --deploy` flags it otherwise.
SECRET_KEY = os.environ.get("SECRET_KEY", "django-insecure-demo-key-change-me-for-any-real-site")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "core",
    "console",
    "clusters",
    "maintenance",
    "crashes",
    "notifications",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "console.middleware.SecurityHeadersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Records what a request sent with a progress id does, for its sender to watch.
    "core.progress.ProgressMiddleware",
    # Before the CSRF check, the first to read a POST's body: who, size, streaming limit.
    "core.uploads.UploadGateMiddleware",
    "console.middleware.PagesLoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last: turns a log-in refused for too many failures into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "console.urls"
WSGI_APPLICATION = "console.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "console.context_processors.console",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'var' / 'db.sqlite3'}"),
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "0")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # Web, worker and beat write concurrently: wait for locks instead of failing.
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].update({"timeout": 20, "transaction_mode": "IMMEDIATE"})
    # A file, not shared memory, so test workers in threads and processes see one database.
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "var" / "test-db.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Axes first: it refuses a locked-out client before any password is checked.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "core.backends.RoleBackend"]

# Directory sign-in (README: Directory sign-in), only with LDAP_SERVER_URI set: the directory
# is asked before local accounts, which keep working (a name the directory does not know,
# or a server that does not answer, falls through to them).
DIRECTORY = ldap_settings(os.environ)
globals().update(DIRECTORY)
DIRECTORY_ROLE_GROUPS = DIRECTORY.get("DIRECTORY_ROLE_GROUPS", {})
if DIRECTORY:
    AUTHENTICATION_BACKENDS.insert(1, DIRECTORY_BACKEND)
# Single sign-on (README: Single sign-on), only with OIDC_RP_CLIENT_ID set: the log-in
# page offers the provider beside the password form (mozilla-django-oidc).
SSO = oidc_settings(os.environ)
globals().update(SSO)
OIDC_RP_CLIENT_ID = SSO.get("OIDC_RP_CLIENT_ID", "")  # empty: off, /oidc/ answers 404
SSO_ROLE_GROUPS = SSO.get("SSO_ROLE_GROUPS", {})
if SSO:
    AUTHENTICATION_BACKENDS.insert(1, SSO_BACKEND)
# Where the provider's refusal lands: the log-in page, saying so.
LOGIN_REDIRECT_URL_FAILURE = "/login/?sso=failed"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# How long a one-time set-password link a pool-admin makes stays good (Django's reset token).
PASSWORD_RESET_TIMEOUT = int(os.environ.get("PASSWORD_LINK_DAYS", "3")) * 24 * 3600
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "var" / "staticfiles"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# Security headers; the HTTPS-only ones follow DEBUG so the demo works on plain HTTP.
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "0" if DEBUG else "31536000"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
BEHIND_TLS_PROXY = env_bool("BEHIND_TLS_PROXY", False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if BEHIND_TLS_PROXY else None

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: an anonymous client is told 401 with how to authenticate.
        "core.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["core.permissions.CanViewPool"],
    "DEFAULT_PAGINATION_CLASS": "core.api.pagination.PagePagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.api.exceptions.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "core.api.parsers.DepthLimitedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    # `?format=` filters SRs by disk format (vhd, raw); the schema is chosen by Accept.
    "URL_FORMAT_OVERRIDE": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "O2CB storage console API",
    "DESCRIPTION": "Run OCFS2 shared storage on a pool of virtualization hosts.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and docs map every operation: readable with the read-only role, as the API.
    "SERVE_PERMISSIONS": ["core.permissions.CanViewPool"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "IOHealthStateEnum": "clusters.choices.IOHealthState",
        "AlertPriorityEnum": "core.choices.AlertPriority",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "core.api.schema.add_error_responses",
    ],
}

# Redis is the broker and result backend; nothing else stands in for it.
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_EXPIRES = timedelta(hours=6)
# Console tasks record their outcome in the database; only agent calls return results.
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# The orchestration queue; tests use their own name so a running demo never steals their work.
CONSOLE_QUEUE = os.environ.get("CONSOLE_QUEUE", "console")
CELERY_TASK_DEFAULT_QUEUE = CONSOLE_QUEUE
# Periodic rounds (I/O health, sweeps, silence) and agents' reports have a queue and a
# worker of their own, so no workflow, however long or stuck, ever delays them. Agents
# derive the same name from CONSOLE_QUEUE.
ROUNDS_QUEUE = f"{CONSOLE_QUEUE}.rounds"
# The key the console seals its calls to agents with (made on first use); every agent
# trusts its public half (`manage.py console_key`, then `python -m agent trust-console`).
CONSOLE_KEY_FILE = Path(
    os.environ.get("CONSOLE_KEY_FILE", BASE_DIR / "var" / "keys" / "console.key")
)
# How long the console waits for one agent call before calling the host unreachable.
AGENT_CALL_TIMEOUT = float(os.environ.get("AGENT_CALL_TIMEOUT", "15"))
MONITOR_INTERVAL = float(os.environ.get("MONITOR_INTERVAL", "60"))
# Seconds between I/O-path health rounds (multipath, bonds, disk heartbeat) on every host.
IO_HEALTH_INTERVAL = float(os.environ.get("IO_HEALTH_INTERVAL", "5"))
# Hosts per task of a round: a round is cut into shards of at most this many (a pool's
# hosts together), which the rounds workers share.
IO_HEALTH_SHARD_HOSTS = int(os.environ.get("IO_HEALTH_SHARD_HOSTS", "64"))
# A running task whose worker no longer answers a ping, quiet this long, lost its worker.
TASK_ORPHANED_AFTER = timedelta(seconds=float(os.environ.get("TASK_ORPHANED_AFTER", "60")))
# A running task that no worker holds (it waits in the queue) and has not moved this long
# lost its queue message; so has a pending task nothing picked up in TASK_LOST_AFTER.
TASK_STALLED_AFTER = timedelta(minutes=float(os.environ.get("TASK_STALLED_AFTER_MINUTES", "30")))
TASK_LOST_AFTER = timedelta(minutes=float(os.environ.get("TASK_LOST_AFTER_MINUTES", "10")))
# Notifications (notifications/): the SMTP server every e-mail target goes through, with
# Django's own settings, and how web-hooks and e-mails are retried.
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)  # STARTTLS
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)  # TLS from the first byte (port 465)
NOTIFY_FROM_EMAIL = os.environ.get("NOTIFY_FROM_EMAIL", "o2cb-console@localhost")
# The console's address as people reach it: the links in messages.
CONSOLE_URL = os.environ.get("CONSOLE_URL", "http://127.0.0.1:8000")
# Seconds a target may take to answer one try.
NOTIFY_TIMEOUT = float(os.environ.get("NOTIFY_TIMEOUT", "10"))
# Tries after the first, each after a wait doubling from NOTIFY_RETRY_BACKOFF seconds up to
# NOTIFY_RETRY_BACKOFF_MAX (the defaults: 5 s, 10 s ... 10 min; about 40 min in all).
NOTIFY_RETRIES = int(os.environ.get("NOTIFY_RETRIES", "8"))
NOTIFY_RETRY_BACKOFF = float(os.environ.get("NOTIFY_RETRY_BACKOFF", "5"))
NOTIFY_RETRY_BACKOFF_MAX = float(os.environ.get("NOTIFY_RETRY_BACKOFF_MAX", "600"))
# Days the messages and their delivery log are kept.
NOTIFY_LOG_DAYS = float(os.environ.get("NOTIFY_LOG_DAYS", "30"))
# Seconds between the polls that stand for a pool host's reports (it sends none itself).
POOL_HOST_POLL_INTERVAL = float(os.environ.get("POOL_HOST_POLL_INTERVAL", "15"))
# Keeping each pool current (clusters/services/pools.py): beat asks every POOL_SYNC_INTERVAL
# seconds; each ask waits at most POOL_EVENT_TIMEOUT in event.from, so a quiet pool holds
# a rounds thread that long at most. A lost master is tried again after POOL_RETRY_BACKOFF
# seconds, doubling after each failure up to POOL_RETRY_BACKOFF_MAX.
POOL_SYNC_INTERVAL = float(os.environ.get("POOL_SYNC_INTERVAL", "5"))
POOL_EVENT_TIMEOUT = float(os.environ.get("POOL_EVENT_TIMEOUT", "1"))
POOL_RETRY_BACKOFF = float(os.environ.get("POOL_RETRY_BACKOFF", "5"))
POOL_RETRY_BACKOFF_MAX = float(os.environ.get("POOL_RETRY_BACKOFF_MAX", "300"))
CELERY_BEAT_SCHEDULE = {
    "reconcile-clusters": {
        "task": "clusters.reconcile_all",
        "schedule": MONITOR_INTERVAL,
        "options": {"queue": ROUNDS_QUEUE, "expires": MONITOR_INTERVAL},
    },
    "fail-stalled-tasks": {
        "task": "core.fail_stalled_tasks",
        "schedule": 60.0,
        "options": {"queue": ROUNDS_QUEUE, "expires": 60.0},
    },
    "collect-io-health": {
        "task": "clusters.collect_io_health",
        "schedule": IO_HEALTH_INTERVAL,
        "options": {"queue": ROUNDS_QUEUE, "expires": IO_HEALTH_INTERVAL},
    },
    "roll-up-health-samples": {
        "task": "clusters.roll_up_samples",
        "schedule": 3600.0,
        "options": {"queue": ROUNDS_QUEUE, "expires": 3600.0},
    },
    "remind-of-ended-snoozes": {
        "task": "notifications.snoozes_ended",
        "schedule": 30.0,
        "options": {"queue": ROUNDS_QUEUE, "expires": 30.0},
    },
    "prune-notifications": {
        "task": "notifications.prune",
        "schedule": 3600.0,
        "options": {"queue": ROUNDS_QUEUE, "expires": 3600.0},
    },
    "poll-pool-hosts": {
        "task": "clusters.poll_pool_hosts",
        "schedule": POOL_HOST_POLL_INTERVAL,
        "options": {"queue": ROUNDS_QUEUE, "expires": POOL_HOST_POLL_INTERVAL},
    },
    "sync-pools": {
        "task": "clusters.sync_pools",
        "schedule": POOL_SYNC_INTERVAL,
        "options": {"queue": ROUNDS_QUEUE, "expires": POOL_SYNC_INTERVAL},
    },
    "mark-silent-hosts": {
        "task": "clusters.mark_silent_hosts",
        "schedule": 30.0,
        "options": {"queue": ROUNDS_QUEUE, "expires": 30.0},
    },
}

# Shared state between web processes (log-in failures); Redis, so every worker sees it.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", "o2cb-console"),
    }
}
LOGIN_FAILURES_PER_USER = int(os.environ.get("LOGIN_FAILURES_PER_USER", "5"))
LOGIN_FAILURES_PER_ADDRESS = int(os.environ.get("LOGIN_FAILURES_PER_ADDRESS", "20"))
LOGIN_LOCKOUT = timedelta(minutes=int(os.environ.get("LOGIN_LOCKOUT_MINUTES", "15")))
# Proxies whose X-Forwarded-For names the client (addresses or networks); behind a TLS
# proxy on this machine, loopback. Nobody else's header is believed.
# A typo stops the start-up here rather than failing every log-in.
TRUSTED_PROXIES = [
    str(ipaddress.ip_network(entry, strict=False))
    for entry in env_list("TRUSTED_PROXIES", "127.0.0.1,::1" if BEHIND_TLS_PROXY else "")
]
# Log-in throttling is django-axes, shaped by core.throttling to the settings above.
AXES_HANDLER = "core.throttling.LoginThrottleHandler"
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_USERNAME_CALLABLE = "core.throttling.login_name"
AXES_CLIENT_IP_CALLABLE = "core.throttling.client_address"
AXES_COOLOFF_TIME = "core.throttling.lockout_period"
AXES_LOCKOUT_CALLABLE = "core.throttling.lockout_response"
# The handler holds each counter to its own limit and locks from the next attempt on;
# axes' single limit and at-failure lockout are not used.
AXES_LOCK_OUT_AT_FAILURE = False
AXES_FAILURE_LIMIT = max(LOGIN_FAILURES_PER_USER, LOGIN_FAILURES_PER_ADDRESS)
# Attempts refused during a lockout neither count nor extend it (they are audited).
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_RESET_ON_SUCCESS = False  # the handler forgives the name only
AXES_ENABLE_ADMIN = False  # its tables stay empty: the counts live in the cache
AXES_DISABLE_ACCESS_LOG = True
AXES_VERBOSE = False  # no "AXES: BEGIN" line from every process that starts Django

# Crash dumps: the logs they cite and admins' uploads are kept here.
CRASH_STORE = Path(os.environ.get("CRASH_STORE", BASE_DIR / "var" / "crashes"))
CRASH_UPLOAD_MAX_BYTES = int(os.environ.get("CRASH_UPLOAD_MAX_BYTES", str(512 * 1024 * 1024)))
# Request bodies (core/uploads.py): a request to a view without an upload gate carries at
# most this much, form fields and files alike, and is held in memory; larger ones are
# refused (413) before they are read.
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
FILE_UPLOAD_MAX_MEMORY_SIZE = DATA_UPLOAD_MAX_MEMORY_SIZE
# Files a gated view receives are spooled here (on disk, beside the store they move into,
# rather than /tmp, often memory), never beyond the view's limit.
FILE_UPLOAD_TEMP_DIR = os.environ.get("FILE_UPLOAD_TEMP_DIR", str(CRASH_STORE / "incoming"))
with contextlib.suppress(OSError):  # not ours to make: Django's check says it is missing
    Path(FILE_UPLOAD_TEMP_DIR).mkdir(parents=True, exist_ok=True)
# Seconds after a restart before asking whether it was a crash that left no dump.
CRASH_REBOOT_GRACE = float(os.environ.get("CRASH_REBOOT_GRACE", "45"))
# The key that encrypts the secrets the console keeps (pools' passwords, web-hook secrets;
# core/secrets.py), made on first use; and how long the console waits for a master's answer.
# POOL_KEY_FILE is its name from before web-hook secrets shared it: a site upgraded with
# that name still set keeps its key, and so its pools' passwords.
SECRETS_KEY_FILE = Path(
    os.environ.get("SECRETS_KEY_FILE")
    or os.environ.get("POOL_KEY_FILE")
    or BASE_DIR / "var" / "keys" / "secrets.key"
)
XAPI_TIMEOUT = float(os.environ.get("XAPI_TIMEOUT", "30"))
# Seconds a host may take to come back from a reboot during a rolling restart.
REBOOT_TIMEOUT = float(os.environ.get("REBOOT_TIMEOUT", "900"))
# Seconds a host that rejoined may take to be connected to its peers (o2net connects a few
# heartbeats after O2CB starts) before leaving maintenance fails.
REJOIN_TIMEOUT = float(os.environ.get("REJOIN_TIMEOUT", "60"))
# Seconds a sandbox VM takes to live-migrate.
SANDBOX_VM_MOVE_SECONDS = float(os.environ.get("SANDBOX_VM_MOVE_SECONDS", "0.5"))
# Sandbox hosts live here, one directory per host, for the demo and the tests.
SANDBOX_DIR = Path(os.environ.get("SANDBOX_DIR", BASE_DIR / "var" / "sandbox"))
# The real-kernel lab this console manages (set by `make lab`): its guests get faults from
# the Faults page. Empty for any other console.
LAB_DIR = os.environ.get("LAB_DIR", "")
# A host not heard from for this long is shown as silent.
AGENT_SILENT_AFTER = timedelta(seconds=float(os.environ.get("AGENT_SILENT_AFTER", "45")))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
# The step runner's retries of a step after a transient host error (no answer in time):
# at most STEP_RETRIES, the first after STEP_RETRY_BACKOFF seconds, doubling up to the max.
STEP_RETRIES = int(os.environ.get("STEP_RETRIES", "3"))
STEP_RETRY_BACKOFF = float(os.environ.get("STEP_RETRY_BACKOFF", "2"))
STEP_RETRY_BACKOFF_MAX = float(os.environ.get("STEP_RETRY_BACKOFF_MAX", "60"))
# How long a run that rewrites a cluster's cluster.conf waits for earlier runs of the same
# cluster before it fails (it holds no worker while it waits).
EARLIER_RUN_WAIT = float(os.environ.get("EARLIER_RUN_WAIT", "600"))
