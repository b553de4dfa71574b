"""Notification latency: time from an alert being raised (alert_sync, as a health round
raises it) to its message arriving at a real SMTP server (aiosmtpd) and at a real web-hook
receiver (http.server), delivered by a real console worker over real Redis.

    .venv/bin/python scripts/with_redis.py .venv/bin/python bench/notify_latency.py --alerts 30

Uses a database of its own: a SQLite file, or with --postgres SERVER_URL a fresh
database `o2cb_bench` on that server. Each alert is raised, its two messages awaited,
then cleared and its two clearing messages awaited, one alert at a time. Prints the
figures; asserts nothing.
"""

import argparse
import json
import os
import statistics
import time

from _common import PROGRESS, counted, setup_django, start_console_worker


def _wait(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("a message did not arrive")
        time.sleep(0.001)


def _summary(name: str, values: list[float]) -> str:
    ms = sorted(v * 1000 for v in values)
    p90 = ms[min(len(ms) - 1, int(len(ms) * 0.9))]
    return (
        f"{name}: median {statistics.median(ms):.0f} ms, p90 {p90:.0f} ms, "
        f"min {ms[0]:.0f} ms, max {ms[-1]:.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--alerts", type=int, default=30)
    parser.add_argument(
        "--postgres", help="server URL, e.g. postgres://postgres@127.0.0.1/postgres"
    )
    args = parser.parse_args()

    from tests.notifications.servers import HTTPReceiver, SMTPServer

    smtp = SMTPServer().__enter__()
    hook = HTTPReceiver().__enter__()
    os.environ["CONSOLE_QUEUE"] = f"bench-{os.getpid()}"
    os.environ["EMAIL_HOST"], os.environ["EMAIL_PORT"] = "127.0.0.1", str(smtp.port)
    setup_django(args.postgres, "notify")
    import django

    from clusters.choices import HostRegistration
    from clusters.models import Host
    from core.choices import AlertName
    from core.services.alerts import alert_clear, alert_sync
    from notifications.services.config import rule_create, target_create

    worker = start_console_worker(os.environ["CONSOLE_QUEUE"])
    try:
        host = Host.objects.create(hostname="bench-1", registration=HostRegistration.ACCEPTED)
        mail = target_create(actor=None, name="mail", kind="email", recipients=["a@example.org"])
        web = target_create(actor=None, name="hook", kind="webhook", url=hook.url, secret="s")
        rule_create(actor=None, name="all", targets=[mail, web])
        name = AlertName.CLUSTER_MEMBER_STOPPED
        # The first message waits for the worker to start; it is not counted.
        with PROGRESS.running("waiting for the worker: a warm-up alert, not counted", bound=120):
            alert_sync(name=name, target=host, message="warm-up")
            _wait(lambda: smtp.messages and hook.requests, timeout=120)
            alert_clear(name=name, target=host)
            _wait(lambda: len(smtp.messages) >= 2 and len(hook.requests) >= 2)

        to_mail, to_hook = [], []
        alerts = counted(
            "alerts raised and cleared, one at a time",
            range(args.alerts),
            "alerts",
            note=lambda: f"the last at the SMTP server in {to_mail[-1] * 1000:.0f} ms",
        )
        for number in alerts:
            mails, hooks = len(smtp.messages), len(hook.requests)
            start = time.monotonic()
            alert_sync(name=name, target=host, message=f"alert {number}")
            _wait(lambda m=mails, h=hooks: len(smtp.messages) > m and len(hook.requests) > h)
            to_mail.append(smtp.messages[mails][0] - start)
            to_hook.append(hook.requests[hooks].at - start)
            assert json.loads(hook.requests[hooks].body)["event"] == "raised"
            alert_clear(name=name, target=host)
            _wait(
                lambda m=mails, h=hooks: len(smtp.messages) > m + 1 and len(hook.requests) > h + 1
            )
        print(f"alerts={args.alerts} db={django.db.connection.vendor}")
        print(_summary("raised -> at the SMTP server", to_mail))
        print(_summary("raised -> at the web-hook receiver", to_hook))
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        smtp.__exit__(None, None, None)
        hook.__exit__(None, None, None)


if __name__ == "__main__":
    main()
