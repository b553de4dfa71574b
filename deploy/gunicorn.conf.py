"""gunicorn settings for the console's web process (deploy/o2cb-console-web.service).

Threaded workers: a thread that reads a large upload or waits on a slow client does not
count against the worker's heartbeat, so `timeout` only kills a worker that is stuck.
"""

import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
worker_class = "gthread"
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = 60
graceful_timeout = 30
# Behind the TLS proxy on the same machine; it sets X-Forwarded-Proto (BEHIND_TLS_PROXY=1).
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = "-"
errorlog = "-"
