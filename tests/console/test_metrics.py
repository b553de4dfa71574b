"""`/metrics`: the console's state for Prometheus, behind an API token, read from the
database at each scrape; a real Prometheus scrapes it, and its rule file passes promtool."""

import json
import re
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from clusters.iohealth.services import io_health_record
from clusters.models import ClusterHostStatus, Membership
from core.choices import AlertName, TaskStatus
from core.models import Task
from core.services.alerts import alert_raise
from core.services.auth import api_token_create, api_token_revoke
from tests.clusters.factories import ClusterFactory, HostFactory
from tests.clusters.test_io_health import probe
from tests.conftest import stop_process

ROOT = Path(__file__).resolve().parents[2]
ALERT_RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
ALERT_RULES_TEST = ROOT / "deploy" / "prometheus" / "alerts_test.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "o2cb-console.json"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def scrape(client, key: str):
    return client.get("/metrics", headers={"Authorization": f"Bearer {key}"})


def families(text: str) -> dict:
    return {family.name: family for family in text_string_to_metric_families(text)}


def value(family, **labels) -> float:
    matching = [s.value for s in family.samples if labels.items() <= s.labels.items()]
    assert len(matching) == 1, (family.name, labels, family.samples)
    return matching[0]


def a_pool(count: int, *, lag_ms: int = 500):
    """`count` hosts of one cluster, each with a real I/O probe recorded by a round and
    the monitor's view of O2CB on it."""
    cluster = ClusterFactory(name="Gold", cluster_name="gold")
    hosts = HostFactory.create_batch(count, last_heard=timezone.now())
    for number, host in enumerate(hosts):
        Membership.objects.create(
            cluster=cluster, host=host, number=number, host_uuid=host.uuid, hostname=host.hostname
        )
        ClusterHostStatus.objects.create(
            cluster=cluster,
            host=host,
            reachable=True,
            running=number != 1,
            needs_restart=number == 2,
            queried=timezone.now(),
        )
        io_health_record(host=host, probe=probe(lag_ms=lag_ms))
    return cluster, hosts


@pytest.fixture
def reader_key(readonly_user):
    _token, key = api_token_create(user=readonly_user, name="prometheus")
    return key


def test_a_scrape_needs_a_live_token_of_a_user_with_a_role(client, role_users, reader_key):
    anonymous = client.get("/metrics")
    assert anonymous.status_code == 401
    assert anonymous["WWW-Authenticate"].startswith("Bearer")
    assert scrape(client, "not-a-token").status_code == 401
    _token, outsider_key = api_token_create(user=role_users["outsider"], name="prometheus")
    refused = scrape(client, outsider_key)
    assert refused.status_code == 403
    assert b"has no role" in refused.content
    answer = scrape(client, reader_key)
    assert answer.status_code == 200
    assert answer["Content-Type"].startswith("text/plain; version=0.0.4")
    # The API's own scheme works as well.
    api_scheme = client.get("/metrics", headers={"Authorization": f"Token {reader_key}"})
    assert api_scheme.status_code == 200
    token, key = api_token_create(user=role_users["read-only"], name="old scraper")
    api_token_revoke(token=token, actor=role_users["pool-admin"])
    assert b"was revoked" in scrape(client, key).content


def test_a_scrape_reports_what_the_console_knows(client, reader_key, admin_user):
    _cluster, hosts = a_pool(3, lag_ms=45000)
    Task.objects.create(
        name="Reconcile",
        kind="clusters.reconcile",
        status=TaskStatus.SUCCEEDED,
        started=timezone.now() - timedelta(seconds=30),
        finished=timezone.now() - timedelta(seconds=10),
    )
    Task.objects.create(name="Reconcile", kind="clusters.reconcile", status=TaskStatus.RUNNING)
    alert_raise(name=AlertName.HOST_SILENT, target=hosts[0], message="silent", priority=1)
    found = families(scrape(client, reader_key).content.decode())
    first = hosts[0].hostname

    lag = found["o2cb_heartbeat_lag_seconds"]
    assert value(lag, host=first, cluster="pool", region="A" * 32, device="dm-4") == 45.0
    assert value(found["o2cb_heartbeat_dead_time_seconds"], host=first) == 60.0
    assert value(found["o2cb_host_time_to_fence_seconds"], host=first) == pytest.approx(15.0)
    assert value(found["o2cb_host_io_health"], host=first, state="critical") == 1
    # The fixture's map (multipath -ll of an ALUA array): two paths, both working.
    wwid = "36001405a1b2c3d4e5f60718293a4b5c6"
    assert value(found["o2cb_multipath_paths"], host=first, wwid=wwid) == 2
    assert value(found["o2cb_multipath_paths_up"], host=first, wwid=wwid) == 2
    assert value(found["node_bonding_slaves"], host=first, master="bond0") == 2
    assert value(found["node_bonding_active"], host=first, master="bond0") == 2

    assert value(found["o2cb_member_node_number"], host=hosts[2].hostname) == 2
    assert value(found["o2cb_member_state"], host=hosts[1].hostname, state="stopped") == 1
    assert value(found["o2cb_member_state"], host=first, state="running") == 1
    assert value(found["o2cb_member_needs_restart"], host=hosts[2].hostname) == 1
    assert value(found["o2cb_member_needs_restart"], host=first) == 0

    # Three critical I/O alerts raised by the rounds, one for the silent host.
    assert value(found["o2cb_alerts_open"], priority="1") >= 1
    assert value(found["o2cb_alerts_open"], priority="5") == 0
    tasks = found["o2cb_tasks"]
    assert value(tasks, kind="clusters.reconcile", status="succeeded") == 1
    assert value(tasks, kind="clusters.reconcile", status="running") == 1
    took = value(found["o2cb_task_duration_max_seconds"], kind="clusters.reconcile")
    assert took == pytest.approx(20.0, abs=0.5)
    heard = value(found["o2cb_agent_last_heard_timestamp_seconds"], host=first)
    assert abs(heard - timezone.now().timestamp()) < 300


def test_a_scrape_takes_as_many_queries_for_many_hosts_as_for_four(
    client, reader_key, django_db_blocker
):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert scrape(client, reader_key).status_code == 200
        return len(captured)

    cluster, _hosts = a_pool(4)
    queries()  # the token's first use is recorded once; later scrapes only read
    four = queries()
    for number, host in enumerate(HostFactory.create_batch(36), start=4):
        Membership.objects.create(
            cluster=cluster, host=host, number=number, host_uuid=host.uuid, hostname=host.hostname
        )
        io_health_record(host=host, probe=probe())
    assert queries() == four


def test_the_fence_countdown_rule_passes_promtool_and_its_unit_test():
    promtool = shutil.which("promtool")
    assert promtool, "promtool comes with Debian's prometheus package (scripts/setup.sh)"
    checked = subprocess.run(
        [promtool, "check", "rules", str(ALERT_RULES)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout
    tested = subprocess.run(
        [promtool, "test", "rules", str(ALERT_RULES_TEST)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ALERT_RULES_TEST.parent,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_the_dashboard_draws_only_series_the_console_exports(client, reader_key):
    a_pool(2)
    exported = set(families(scrape(client, reader_key).content.decode()))
    dashboard = json.loads(DASHBOARD.read_text())
    expressions = [
        target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])
    ]
    assert expressions
    used = {
        name
        for expr in expressions
        for name in re.findall(r"\b(?:o2cb|node_bonding)_[a-z_]+\b", expr)
    }
    assert used and used <= exported, used - exported


@pytest.mark.django_db(transaction=True)
def test_a_real_prometheus_scrapes_the_console_and_answers_with_its_series(
    live_server, readonly_user, tmp_path
):
    prometheus = shutil.which("prometheus")
    assert prometheus, "Debian's prometheus package (scripts/setup.sh)"
    _cluster, hosts = a_pool(2, lag_ms=12000)
    _token, key = api_token_create(user=readonly_user, name="prometheus")
    target = urllib.parse.urlsplit(live_server.url).netloc
    (tmp_path / "token").write_text(key)
    (tmp_path / "prometheus.yml").write_text(
        "global:\n  scrape_interval: 2s\n  scrape_timeout: 2s\n"
        "scrape_configs:\n"
        "  - job_name: o2cb-console\n"
        "    metrics_path: /metrics\n"
        "    authorization:\n"
        f"      credentials_file: {tmp_path / 'token'}\n"
        "    static_configs:\n"
        f"      - targets: ['{target}']\n"
    )
    port = free_port()
    server = subprocess.Popen(  # noqa: S603
        [
            prometheus,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "prometheus.log").open("w"),
    )

    def query(expr: str) -> list:
        url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310
                return json.load(answer)["data"]["result"]
        except OSError:
            return []

    try:
        deadline = time.monotonic() + 120  # a slow shared machine: start-up plus a scrape
        lag = []
        while not lag and time.monotonic() < deadline:
            lag = query(f'o2cb_heartbeat_lag_seconds{{host="{hosts[0].hostname}"}}')
            time.sleep(0 if lag else 1)
        assert lag, (tmp_path / "prometheus.log").read_text()[-3000:]
        assert float(lag[0]["value"][1]) == 12.0
        assert lag[0]["metric"]["job"] == "o2cb-console"
        # A scrape that succeeded (the latest may have timed out on a busy machine).
        up = query('max_over_time(up{job="o2cb-console"}[5m])')
        assert up and up[0]["value"][1] == "1"
        # The fence countdown, as the shipped rule divides it: a fifth of the dead time gone
        # (last_over_time: a scrape that timed out since would leave the series stale).
        ratio = query(
            "last_over_time(o2cb_heartbeat_lag_seconds[5m])"
            " / last_over_time(o2cb_heartbeat_dead_time_seconds[5m])"
        )
        assert {round(float(r["value"][1]), 2) for r in ratio} == {0.2}
    finally:
        stop_process(server)
