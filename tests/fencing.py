"""A sandbox pool with a running global heartbeat, and a way to make a host fence."""

import json

import pytest

from agent import storage
from agent.kernel import CONFIGFS
from agent.o2cb import O2CBPlugin
from agent.sandbox.io import STATE_FILE, inject_fault
from console.demo import sandbox_pool_seed
from tests.conftest import start_agent, stop_process, wait_for


@pytest.fixture
def heartbeating_pool(sandbox_dir, console_worker, settings):
    """Two sandbox hosts in a started cluster with a global heartbeat region on one LUN."""
    from agent.sandbox.host import iter_sandbox_hosts

    settings.AGENT_CALL_TIMEOUT = 10
    cluster = sandbox_pool_seed(sandbox_dir=sandbox_dir, host_count=2)
    agent = start_agent(sandbox_dir, report_interval=1.0)
    roots = iter_sandbox_hosts(sandbox_dir)

    def running():
        return all(r.path(f"{CONFIGFS}/pool/node").is_dir() for r in roots)

    wait_for(running, 60, message="the seeded cluster never started")
    lun = storage.list_luns(roots[0])[0]
    region = storage.format_lun(roots[0], lun["scsi_id"], "pool", "hb", 4)["region"]
    for root in roots:
        O2CBPlugin(root, "pool").heartbeat_region_add(region)
    yield cluster, roots
    stop_process(agent)


def fence(root):
    root.path(f"{CONFIGFS}/pool/heartbeat/dead_threshold").write_text("2\n")
    inject_fault(root, "heartbeat-stall")
    state = json.loads(root.path(STATE_FILE).read_text())
    state["heartbeat_since"] -= 5  # stalled for longer than the (shortened) dead time
    root.path(STATE_FILE).write_text(json.dumps(state))
