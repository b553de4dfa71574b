"""Demo seeding: the simulated pool that `make demo` and the tests start from."""

import secrets
import time
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from agent.host import hello
from agent.sandbox.host import create_sandbox_host
from agent.sandbox.io import create_sandbox_san
from clusters.choices import HostRegistration
from clusters.models import Cluster, Host
from clusters.services.hosts import host_accept, host_record_report
from clusters.services.memberships import cluster_create, cluster_start
from core.choices import Role


def sandbox_pool_seed(*, sandbox_dir, host_count: int = 4, cluster_name: str = "pool") -> Cluster:
    """Make the demo pool: sandbox hosts, accepted, members of one auto-join cluster.

    Idempotent: hosts and the cluster that exist are kept as they are.
    """
    with transaction.atomic():
        cluster = Cluster.objects.filter(cluster_name=cluster_name).first()
        created = cluster is None
        if created:
            cluster = cluster_create(
                name="OCFS2 pool cluster", cluster_name=cluster_name, hosts=[], actor=None
            )
        create_sandbox_san(sandbox_dir)
        for index in range(1, host_count + 1):
            root = create_sandbox_host(
                sandbox_dir, f"sandbox-{index:02d}", address=f"127.0.1.{index}"
            )
            host = host_record_report(report=hello(root))
            host_accept(host=host, actor=None)
        if created:
            # The worker starts it once the agent answers, so the demo opens on a live cluster.
            cluster_start(cluster=cluster, actor=None)
    return cluster


def lab_pool_seed(
    *, hostnames: list[str], wait: float, cluster_name: str = "lab", on_round=None
) -> Cluster:
    """Make the lab pool: one auto-join cluster, and the lab's hosts accepted into it as
    soon as their agents report (a real host registers itself; nothing is made up here).

    Raises TimeoutError naming the hosts that did not report within `wait` seconds.
    `on_round(accepted, missing)`, when given, is told after each look (for progress).
    """
    cluster = Cluster.objects.filter(cluster_name=cluster_name).first()
    created = cluster is None
    if created:
        cluster = cluster_create(
            name="OCFS2 lab cluster", cluster_name=cluster_name, hosts=[], actor=None
        )
    deadline = time.monotonic() + wait
    missing = set(hostnames)
    while missing:
        for host in Host.objects.filter(hostname__in=sorted(missing)):
            if host.registration != HostRegistration.ACCEPTED:
                with transaction.atomic():
                    host_accept(host=host, actor=None)
            missing.discard(host.hostname)
        if on_round is not None:
            on_round(sorted(set(hostnames) - missing), sorted(missing))
        if missing and time.monotonic() >= deadline:
            raise TimeoutError(f"No report from {', '.join(sorted(missing))} within {wait:g} s.")
        if missing:
            time.sleep(1)
    if created:
        cluster_start(cluster=cluster, actor=None)
    return cluster


def demo_admin_account() -> str:
    """The demo's pool-admin account "admin"; says how to log in."""
    # The password lives in a private file so a second run can print it again.
    secret = Path(settings.BASE_DIR) / "var" / "demo-admin-password"
    User = get_user_model()
    user = User.objects.filter(username="admin").first()
    if user is None or not secret.exists():
        password = secrets.token_urlsafe(12)
        user = user or User(username="admin", email="admin@localhost")
        user.set_password(password)
        user.save()
        secret.parent.mkdir(parents=True, exist_ok=True)
        secret.touch(mode=0o600)
        secret.write_text(password + "\n")
    user.groups.add(Group.objects.get(name=Role.POOL_ADMIN))
    return f"Log in as admin with password {secret.read_text().strip()}"
