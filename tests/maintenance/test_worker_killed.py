"""The Celery worker killed (SIGKILL) in the middle of entering maintenance: the host is
left in a state the retry resumes from, and no step's effect happens twice."""

import os
import signal
import subprocess
import sys
import uuid
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection

from clusters.models import LUN, PBD, SR, VM, Host
from console.demo import sandbox_pool_seed
from core.models import Task
from core.tasks import fail_stalled_tasks
from maintenance import services
from maintenance.models import HostMaintenance
from tests.clusters.test_cluster_lifecycle import finished
from tests.conftest import ROOT, start_agent, stop_process, wait_for
from tests.pools import wait_until_monitor_sees_running

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def console_env(sandbox_dir, redis_url=None) -> dict:
    """The environment of a console process on this test's database and sandbox."""
    db = connection.settings_dict
    return dict(
        os.environ,
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        REDIS_URL=redis_url or settings.REDIS_URL,
        CONSOLE_QUEUE=settings.CONSOLE_QUEUE,
        SANDBOX_DIR=str(sandbox_dir),
        SANDBOX_VM_MOVE_SECONDS="1.5",
        AGENT_CALL_TIMEOUT="10",
    )


def start_worker(sandbox_dir, log, redis_url=None):
    """A real worker in its own process (so it can be killed), on this test's database."""
    env = console_env(sandbox_dir, redis_url)
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "console",
            "worker",
            "-Q",
            f"{settings.CONSOLE_QUEUE},{settings.ROUNDS_QUEUE}",
            "--pool",
            "threads",
            "-c",
            "4",
            "-l",
            "warning",
            # Its own name: the sweep tells a dead worker by its silence to a ping, and
            # other workers on this Redis answer for themselves only.
            "-n",
            f"console-{uuid.uuid4().hex[:8]}@%h",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


@pytest.mark.skipif(
    "postgres" not in os.environ.get("DATABASE_URL", ""),
    reason="a worker in another process needs a shared database: PostgreSQL (CI)",
)
def test_a_killed_worker_leaves_maintenance_resumable(sandbox_dir, tmp_path, admin_user, settings):
    cluster = sandbox_pool_seed(sandbox_dir=sandbox_dir, host_count=3)
    log = open(tmp_path / "worker.log", "ab")  # noqa: SIM115 - the children own it
    agent = start_agent(sandbox_dir)
    worker = start_worker(sandbox_dir, log)
    try:
        assert finished(Task.objects.filter(kind="clusters.start").latest("pk")).status == (
            "succeeded"
        )

        wait_until_monitor_sees_running(cluster, 3)
        host = Host.objects.order_by("hostname").first()
        sr = SR.objects.create(
            name="Gold", cluster=cluster, lun=LUN.objects.create(scsi_id="3600k", size=1)
        )
        PBD.objects.create(host=host, sr=sr, plugged=True)
        for name in ("a", "b", "c"):
            VM.objects.create(name=name, resident_on=host, power_state="running")

        task = services.maintenance_enter(host=host, actor=admin_user)
        wait_for(
            lambda: VM.objects.exclude(resident_on=host).exists(), 60, message="no VM ever moved"
        )
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        state = HostMaintenance.objects.get(host=host)
        assert state.done == ["disable"], "killed during the evacuation"
        moved_before = VM.objects.exclude(resident_on=host).count()
        assert 1 <= moved_before < 3

        settings.TASK_ORPHANED_AFTER = timedelta(0)
        fail_stalled_tasks()  # the sweep the rounds worker runs every minute
        task.refresh_from_db()
        assert task.status == "failed"
        assert task.error.startswith("The worker running it, console-") and "Retry" in task.error

        worker = start_worker(sandbox_dir, log)
        retried = finished(services.maintenance_retry(host=host, actor=admin_user), timeout=90)
        assert retried.status == "succeeded", retried.error
        messages = {s.name: s.message for s in retried.steps.all()}
        assert messages["Disable the host"] == "Done by an earlier run."
        left = 3 - moved_before
        assert (
            messages["Move its VMs to other hosts"] == f"Moved {left} VM{'s' if left > 1 else ''}."
        )
        assert not VM.objects.filter(resident_on=host).exists()
        assert HostMaintenance.objects.get(host=host).state == "in"
    finally:
        worker.kill()
        worker.wait()
        stop_process(agent)
