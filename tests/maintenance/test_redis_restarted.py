"""Redis restarted (everything it held lost) in the middle of entering maintenance: the
workflow completes, or stops in a state the retry resumes from, and no step's effect
happens twice.

The worker, the agent and every process that queues a task use a Redis of this test's
own, so it can be stopped and started without touching the suite's. The worker runs as
under a service manager: started again if it exits."""

import os
import shutil
import subprocess
import sys
import time

import pytest
import redis

from clusters.models import LUN, PBD, SR, VM, Cluster, ClusterHostStatus, Host
from core.models import Task
from maintenance.models import HostMaintenance
from tests.clusters.test_cluster_lifecycle import finished
from tests.conftest import ROOT, start_agent, stop_process, wait_for

from .test_worker_killed import console_env, start_worker

pytestmark = [
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        "postgres" not in os.environ.get("DATABASE_URL", ""),
        reason="workers in other processes need a shared database: PostgreSQL (CI)",
    ),
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server"),
]


class PrivateRedis:
    """A redis-server on a fixed port that can be stopped and started again, empty."""

    def __init__(self, port: int, workdir):
        self.port, self.workdir, self.proc = port, workdir, None
        self.url = f"redis://127.0.0.1:{port}/0"

    def start(self):
        self.proc = subprocess.Popen(
            [
                *(shutil.which("redis-server"), "--bind", "127.0.0.1", "--port", str(self.port)),
                *("--save", "", "--appendonly", "no", "--dir", str(self.workdir)),
            ],
            stdout=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5)

        def answers():
            try:
                return client.ping()
            except redis.RedisError:
                return False

        wait_for(answers, 10, 0.05, message="the private redis-server did not start")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


@pytest.fixture
def private_redis(tmp_path):
    from scripts.with_redis import free_port

    server = PrivateRedis(free_port(), tmp_path)
    server.start()
    yield server
    server.stop()


def supervised(worker, start):
    """Start the worker again if it stopped, as its service manager does in production.

    A task that acknowledges late while the broker is away can make the worker give up
    with "Unrecoverable error" when kombu 5.7 closes the lost connection (restoring the
    unacknowledged messages needs the connection it just dropped).
    """
    try:
        worker.wait(timeout=5)
    except subprocess.TimeoutExpired:
        return worker
    return start()


def console_do(env: dict, code: str) -> str:
    """Run `code` in a console process (it queues its tasks on this test's Redis)."""
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.parametrize("outage", [2, 15], ids=["brief", "longer-than-an-agent-call"])
def test_a_redis_restart_mid_workflow_loses_no_step_and_repeats_none(
    sandbox_dir, tmp_path, admin_user, private_redis, outage
):
    env = console_env(sandbox_dir, private_redis.url)
    log = open(tmp_path / "worker.log", "ab")  # noqa: SIM115 - the children own it
    # The agent serves the sandbox hosts it finds when it starts: make them first.
    console_do(
        env,
        "import os; from console.demo import sandbox_pool_seed; "
        "sandbox_pool_seed(sandbox_dir=os.environ['SANDBOX_DIR'], host_count=3)",
    )
    agent = start_agent(sandbox_dir, redis_url=private_redis.url)
    worker = start_worker(sandbox_dir, log, private_redis.url)
    try:
        start = Task.objects.filter(kind="clusters.start").latest("pk")
        assert finished(start, timeout=90).status == "succeeded", start.error
        cluster = Cluster.objects.get()

        def monitor_sees_all_running():
            if ClusterHostStatus.objects.filter(cluster=cluster, running=True).count() == 3:
                return True
            pk = console_do(
                env,
                "from clusters.models import Cluster; "
                "from clusters.services.memberships import cluster_reconcile_start; "
                "print(cluster_reconcile_start(cluster=Cluster.objects.get(), reason='test').pk)",
            )
            finished(Task.objects.get(pk=pk))
            return False

        wait_for(monitor_sees_all_running, 90, message="the monitor never saw 3 hosts running")
        host = Host.objects.order_by("hostname").first()
        sr = SR.objects.create(
            name="Gold", cluster=cluster, lun=LUN.objects.create(scsi_id="3600r", size=1)
        )
        PBD.objects.create(host=host, sr=sr, plugged=True)
        for name in ("a", "b", "c"):
            VM.objects.create(name=name, resident_on=host, power_state="running")

        pk = console_do(
            env,
            "from clusters.models import Host; from maintenance.services import "
            "maintenance_enter; from django.contrib.auth import get_user_model; "
            f"print(maintenance_enter(host=Host.objects.get(pk={host.pk}), "
            f"actor=get_user_model().objects.get(pk={admin_user.pk})).pk)",
        )
        task = Task.objects.get(pk=pk)
        wait_for(
            lambda: VM.objects.exclude(resident_on=host).exists(), 60, message="no VM ever moved"
        )
        private_redis.stop()  # every queue, binding and result is gone with it
        time.sleep(outage)
        private_redis.start()

        task = finished(task, timeout=120)
        worker = supervised(worker, lambda: start_worker(sandbox_dir, log, private_redis.url))
        if outage > 10:
            # The storage step needed the agent while Redis was away.
            assert task.status == "failed", list(task.steps.values_list("name", "message"))
        if task.status == "failed":
            # Stopped where the retry resumes: what was done stays done.
            state = HostMaintenance.objects.get(host=host)
            assert {"disable", "evacuate"} <= set(state.done), state.done
            pk = console_do(
                env,
                "from clusters.models import Host; from maintenance.services import "
                "maintenance_retry; "
                f"print(maintenance_retry(host=Host.objects.get(pk={host.pk}), actor=None).pk)",
            )
            task = finished(Task.objects.get(pk=pk), timeout=120)
            messages = {s.name: s.message for s in task.steps.all()}
            assert messages["Disable the host"] == "Done by an earlier run."
            assert messages["Move its VMs to other hosts"] == "Done by an earlier run."
        assert task.status == "succeeded", (task.error, list(task.steps.values()))
        assert HostMaintenance.objects.get(host=host).state == "in"
        assert not VM.objects.filter(resident_on=host).exists()
        assert not PBD.objects.get(host=host, sr=sr).plugged
    finally:
        worker.kill()
        worker.wait()
        stop_process(agent)
