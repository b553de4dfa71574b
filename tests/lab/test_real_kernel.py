"""The console against real kernels: each scenario drives the console's own API and checks
what Linux's O2CB, OCFS2, multipathd and bonding then say, through the real agent.

The scenarios are phases of one test on one lab, each starting where the last left the
pool (booting real kernels is too dear to repeat): registration, online add, storage,
bond and path failures, a real fence and its explanation, maintenance and its planned
reboot. Each phase's time is printed and kept as a test property (bench/RESULTS.md).
Timeouts are generous: the guests run under TCG on two shared cores.
"""

import json
import os
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client, override_settings
from django.urls import reverse
from rest_framework.test import APIClient

from clusters.agents import agent
from clusters.iohealth.services import io_health_collect
from clusters.models import PBD, Cluster, Host, HostIOHealth
from core.choices import Role
from core.models import Task
from crashes.models import HostCrashdump
from lab.faults import apply
from tests.conftest import _user, wait_for

pytestmark = [pytest.mark.lab, pytest.mark.timeout(3600)]

BOOT = 600  # seconds for guests to boot and their agents to report, under TCG
CLUSTER = "lab"
LUN = "35000c50000000000"  # the lab SAN's lun0, as multipath names it (NAA 3 + WWN)


def host(name: str) -> Host:
    return Host.objects.get(hostname=name)


def finished(admin, response, timeout: float = 600) -> Task:
    """The task an API call queued, once it ended; it must have succeeded."""
    assert response.status_code == 202, response.content
    return ended(response.json()["task_id"], timeout)


def ended(task_id: int, timeout: float = 600) -> Task:
    """The task, once it ended; it must have succeeded."""

    def done():
        task = Task.objects.get(pk=task_id)
        return task if task.status in ("succeeded", "failed") else None

    task = wait_for(done, timeout, 2, f"task {task_id} did not finish in {timeout} s")
    steps = [(s.name, s.status, s.output) for s in task.steps.order_by("id")]
    assert task.status == "succeeded", f"{task.error}\n{steps}"
    return task


def configured_nodes(name: str) -> set[str]:
    """The node names the host's running kernel has in configfs (cluster_query)."""
    answer = agent(host(name)).cluster_query(CLUSTER)
    return {node.hostname for node in answer.hosts if node.live}


def accept(admin, name: str) -> None:
    wait_for(
        lambda: Host.objects.filter(hostname=name).exists(),
        BOOT,
        2,
        f"{name}'s agent never reported",
    )
    response = admin.post(f"/api/hosts/{host(name).pk}/accept/")
    assert response.status_code == 200, response.content


def real_hosts_register_and_form_a_running_cluster(lab_pool, admin):
    response = admin.post(
        "/api/clusters/", {"name": "Lab", "cluster_name": CLUSTER, "auto_join": True}
    )
    assert response.status_code == 201, response.content
    cluster = Cluster.objects.get(cluster_name=CLUSTER)
    for name in ("lab-01", "lab-02"):
        accept(admin, name)
        assert host(name).addresses == [lab_pool.guest(name).cluster_address]
    finished(admin, admin.post(f"/api/clusters/{cluster.pk}/start/"))
    for name in ("lab-01", "lab-02"):
        answer = agent(host(name)).cluster_query(CLUSTER)
        assert answer.running and answer.heartbeat_mode == "global"
        assert configured_nodes(name) == {"lab-01", "lab-02"}


def online_add_puts_the_new_node_in_every_running_kernel(lab_pool, admin):
    # Auto-join: the console adds it to the live cluster and starts it there (Pool.join).
    accept(admin, "lab-03")
    everyone = {"lab-01", "lab-02", "lab-03"}
    for name in ("lab-01", "lab-02"):
        wait_for(
            lambda name=name: configured_nodes(name) == everyone,
            300,
            3,
            f"{name}'s running kernel never had lab-03 added",
        )
    join = Task.objects.get(kind="maintenance.join", params__host=host("lab-03").pk)
    join = ended(join.pk)
    assert join.steps.get(key="start").status == "succeeded"  # nobody started it by hand
    assert agent(host("lab-03")).cluster_query(CLUSTER).running
    assert configured_nodes("lab-03") == everyone


def add_storage_formats_and_mounts_the_lun_on_every_host(lab_pool, admin):
    cluster = Cluster.objects.get(cluster_name=CLUSTER)
    body = {"cluster": cluster.pk, "luns": [{"scsi_id": LUN, "name": "Lab SR"}]}
    finished(admin, admin.post("/api/storage/add/", body, format="json"), timeout=900)
    assert set(PBD.objects.filter(plugged=True).values_list("host__hostname", flat=True)) == {
        "lab-01",
        "lab-02",
        "lab-03",
    }
    for name in ("lab-01", "lab-02", "lab-03"):
        lun = next(lun for lun in agent(host(name)).lun_list() if lun.scsi_id == LUN)
        assert lun.filesystem == "ocfs2" and lun.region
        console = lab_pool.guest(name).console_text()
        assert "is now a quorum device" in console  # the kernel's own word
        assert "ocfs2: Mounting device" in console


def io_state(name: str) -> HostIOHealth:
    io_health_collect(timeout=settings.IO_HEALTH_INTERVAL)  # the beat round, inline
    return HostIOHealth.objects.get(host=host(name))


def a_bond_slave_failure_is_seen_through_proc_net_bonding(lab_pool, admin):
    # From the Faults page, as an admin running a drill would.
    page = Client()
    page.force_login(User.objects.get(username="lab-admin"))
    with override_settings(LAB_DIR=str(lab_pool.dir)):
        answer = page.post(
            reverse("faults"),
            {"host": host("lab-02").pk, "fault": "link-down", "target": "eth1"},
            follow=True,
        )
    assert "lab-02: link-down eth1 done." in answer.content.decode()
    try:
        health = wait_for(
            lambda: (h := io_state("lab-02")) and h.problems and h,
            120,
            3,
            "the console never saw the bond lose a slave",
        )
        bond = health.probe["bonds"][0]
        assert bond["summary"] == {"mode": "active-backup", "slaves": 2, "up": 1}
        assert bond["active_slave"] == "eth2"  # the real driver failed over
        assert any("bond0" in str(problem) for problem in health.problems)
    finally:
        apply(lab_pool, "lab-02", "link-up", "eth1")
    wait_for(lambda: not io_state("lab-02").problems, 120, 3, "the bond never looked healthy")


def a_failed_path_is_seen_through_multipathd(lab_pool, admin):
    apply(lab_pool, "lab-01", "fail-path", "lun0:0")
    try:

        def one_path_left():
            health = io_state("lab-01")
            maps = {m["wwid"]: m for m in health.probe["multipath"]["maps"]}
            paths = [p for g in maps[LUN]["path_groups"] for p in g["paths"]]
            states = sorted(p["dm_state"] for p in paths)
            return health if states == ["active", "failed"] else None

        health = wait_for(one_path_left, 120, 3, "multipathd never reported the path failed")
        assert health.problems
    finally:
        apply(lab_pool, "lab-01", "restore-path", "lun0:0")
    wait_for(lambda: not io_state("lab-01").problems, 180, 3, "the path never came back")


def a_stalled_lun_fences_the_host_and_the_console_explains_it(lab_pool, admin):
    guest = lab_pool.guest("lab-02")
    boots = guest.boots
    apply(lab_pool, "lab-02", "stall-lun", "lun0")
    try:
        wait_for(lambda: guest.boots > boots, 300, 2, "lab-02 never fenced and came back")
        restarted = time.monotonic()
    finally:
        apply(lab_pool, "lab-02", "restore-lun", "lun0")
    crash = wait_for(
        lambda: HostCrashdump.objects.filter(host=host("lab-02")).first(),
        BOOT,
        3,
        "lab-02's crash never reached the console",
    )
    explained = time.monotonic()
    assert crash.cause == "o2cb", crash.explanation
    texts = " ".join(item["text"] for item in crash.evidence)
    assert "o2hb_write_timeout" in texts or "Heartbeat write timeout" in texts
    # The survivors' kernels saw it die, and said so in their own logs.
    survivor = lab_pool.guest("lab-01").console_text()
    assert "o2dlm has evicted node" in survivor or "No longer connected to node lab-02" in survivor
    return {"fenced_guest_restart_to_explained_crash": round(explained - restarted, 1)}


def maintenance_unmounts_stops_o2cb_and_exits_after_a_planned_reboot(lab_pool, admin):
    lab03 = host("lab-03")
    wait_for(lambda: agent(lab03).cluster_query(CLUSTER).running, 300, 3)
    finished(admin, admin.post("/api/maintenance/enter/", {"host": lab03.pk}, format="json"))
    assert not agent(lab03).cluster_query(CLUSTER).running
    assert "ocfs2: Unmounting device" in lab_pool.guest("lab-03").console_text()
    assert not PBD.objects.filter(host=lab03, plugged=True).exists()
    guest = lab_pool.guest("lab-03")
    boots = guest.boots
    apply(lab_pool, "lab-03", "reboot")
    wait_for(lambda: guest.boots > boots, 300, 2, "lab-03 never rebooted")
    wait_for(
        lambda: host("lab-03").boot_time != lab03.boot_time, BOOT, 3, "lab-03 never reported back"
    )
    finished(admin, admin.post("/api/maintenance/exit/", {"host": lab03.pk}, format="json"))
    assert agent(lab03).cluster_query(CLUSTER).running
    assert PBD.objects.filter(host=lab03, plugged=True).exists()
    # A reboot the admin was asked for is not a crash.
    assert not HostCrashdump.objects.filter(host=lab03).exists()


def a_network_split_fences_the_side_without_quorum(lab_pool, admin):
    """Off the cluster network, lab-01 still heartbeats on the disk but reaches one node
    of three: o2quo fences it; the two that still see each other live on."""
    wait_for(lambda: agent(host("lab-01")).cluster_query(CLUSTER).running, 300, 3)
    boots = {guest.name: guest.boots for guest in lab_pool.guests}
    isolated = lab_pool.guest("lab-01")
    apply(lab_pool, "lab-01", "isolate")
    try:
        wait_for(lambda: isolated.boots > boots["lab-01"], 300, 2, "lab-01 kept running alone")
    finally:
        apply(lab_pool, "lab-01", "rejoin")
    assert [g.boots for g in lab_pool.guests[1:]] == [boots["lab-02"], boots["lab-03"]]
    crash = wait_for(
        lambda: HostCrashdump.objects.filter(host=host("lab-01")).first(),
        BOOT,
        3,
        "lab-01's crash never reached the console",
    )
    assert crash.cause == "o2cb", crash.explanation
    texts = " ".join(item["text"] for item in crash.evidence)
    assert "quorum" in texts, texts


def removal_needs_a_restart_that_the_rolling_restart_clears(lab_pool, admin):
    """The kernel keeps a removed node in configfs until o2cb restarts: the survivors say
    needs_restart, and a rolling restart (each host rebooted through its agent) clears it."""
    lab03 = host("lab-03")
    wait_for(lambda: agent(lab03).cluster_query(CLUSTER).running, 300, 3)
    finished(admin, admin.post("/api/maintenance/enter/", {"host": lab03.pk}, format="json"))
    answer = admin.post(
        "/api/maintenance/remove/", {"host": lab03.pk, "confirm_name": "lab-03"}, format="json"
    )
    assert answer.status_code == 200, answer.content
    for task_id in answer.json()["reconcile_tasks"]:
        wait_for(
            lambda task_id=task_id: Task.objects.get(pk=task_id).status == "succeeded",
            300,
            2,
            f"the reconcile after the removal (task {task_id}) did not succeed",
        )
    for name in ("lab-01", "lab-02"):
        answer = agent(host(name)).cluster_query(CLUSTER)
        assert answer.needs_restart, f"{name}: {answer}"
        assert "lab-03" in configured_nodes(name)  # still in the running kernel
    cluster = Cluster.objects.get(cluster_name=CLUSTER)
    boots = [g.boots for g in lab_pool.guests[:2]]
    restart = admin.post("/api/maintenance/rolling-restart/", {"cluster": cluster.pk})
    finished(admin, restart, timeout=1500)
    assert [g.boots for g in lab_pool.guests[:2]] == [b + 1 for b in boots]
    for name in ("lab-01", "lab-02"):
        answer = agent(host(name)).cluster_query(CLUSTER)
        assert answer.running and not answer.needs_restart, f"{name}: {answer}"
        assert configured_nodes(name) == {"lab-01", "lab-02"}


# Seconds each phase took, and figures phases measure themselves.
FIGURES: dict[str, float] = {}
PHASES = [
    real_hosts_register_and_form_a_running_cluster,
    online_add_puts_the_new_node_in_every_running_kernel,
    add_storage_formats_and_mounts_the_lun_on_every_host,
    a_bond_slave_failure_is_seen_through_proc_net_bonding,
    a_failed_path_is_seen_through_multipathd,
    a_stalled_lun_fences_the_host_and_the_console_explains_it,
    maintenance_unmounts_stops_o2cb_and_exits_after_a_planned_reboot,
    a_network_split_fences_the_side_without_quorum,
    removal_needs_a_restart_that_the_rolling_restart_clears,
]


def test_the_console_on_real_kernels(lab_pool):
    admin = APIClient()
    admin.force_authenticate(_user("lab-admin", Role.POOL_ADMIN))
    for phase in PHASES:
        started = time.monotonic()
        try:
            FIGURES.update(phase(lab_pool, admin) or {})
        except BaseException:
            print(f"lab phase {phase.__name__} failed; the guests:\n{lab_pool.report()}")
            raise
        FIGURES[phase.__name__] = round(time.monotonic() - started, 1)
        print(f"lab phase {phase.__name__}: {FIGURES[phase.__name__]} s")
        if os.environ.get("LAB_FIGURES"):  # bench/lab_scenarios.py
            Path(os.environ["LAB_FIGURES"]).write_text(json.dumps(FIGURES, indent=2))
