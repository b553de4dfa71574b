import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
# A web worker serves one request after another: keeping its database connection saves a
# connection set-up per request (workers and tests keep the settings' default, 0).
os.environ.setdefault("DB_CONN_MAX_AGE", "60")
application = get_wsgi_application()
