import logging
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
# A web worker serves one request after another: keeping its database connection saves a
# connection set-up per request (workers and tests keep the settings' default, 0).
os.environ.setdefault("DB_CONN_MAX_AGE", "60")
application = get_wsgi_application()

# `check --deploy` says so too; this is for a web process started without it.
from console.checks import COLLECT, static_manifest_problem  # noqa: E402

if problem := static_manifest_problem():
    logging.getLogger("console").warning("%s Run `%s`.", problem, COLLECT)
