"""The XAPI host plugin, run as xapi runs it: the file deploy/xapi/o2cb-agent as a program
of its own, the XML-RPC methodCall as its one argument, the methodResponse on its standard
output (xapi's XenAPIPlugin.dispatch), against sandbox hosts.

It runs on dom0's python3 where this machine has one (3.6, as XenServer 8 and XCP-ng 8.3
have), so the plugin's code is run, not only read, by the Python it will meet.
"""

import fcntl
import glob
import json
import os
import shutil
import subprocess
import sys
import time
import xmlrpc.client
from pathlib import Path

import pytest

from agent import contract
from agent.plugin import LOCK_FILE
from agent.sandbox.host import create_sandbox_host

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "deploy/xapi/o2cb-agent"
SESSION = "OpaqueRef:6b4c1c1e-0000-4000-8000-00000000c0de"


def dom0_python() -> str:
    """A python3.6 (DOM0_PYTHON, on the PATH, or pyenv's), else the one running the tests."""
    found = [
        os.environ.get("DOM0_PYTHON"),
        *sorted(glob.glob(str(Path.home() / ".pyenv/versions/3.6*/bin/python3.6"))),
        shutil.which("python3.6"),
    ]
    # Not pyenv's shim: it needs pyenv's environment, which xapi does not give a plugin.
    real = (python for python in found if python and "/shims/" not in python)
    return next(real, sys.executable)


def run_plugin(sandbox: Path, function: str, request=None, *, args=None, wait=True):
    """What xapi would hand back for `host.call_plugin(host, "o2cb-agent", function, args)`:
    the methodResponse's struct ({"Status": ..., "Value" or "ErrorDescription": ...})."""
    if args is None:
        args = {"request": json.dumps(request)}
    call = xmlrpc.client.dumps((SESSION, args), function)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "O2CB_AGENT_CODE": str(ROOT),
        "O2CB_AGENT_SANDBOX_ROOT": str(sandbox),
    }
    process = subprocess.Popen(
        [dom0_python(), str(PLUGIN), call],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    if not wait:
        return process
    return response(process)


def response(process: subprocess.Popen) -> dict:
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    (struct,), method = xmlrpc.client.loads(out)
    assert method is None  # a methodResponse, not a call
    return struct


def request(root, **fields) -> dict:
    return {"host_uuid": root.uuid, "contract": contract.CONTRACT_VERSION, **fields}


def answer(struct: dict, call: contract.Call):
    assert struct["Status"] == "Success", struct
    envelope = json.loads(struct["Value"])
    return contract.decode(call.answer, contract.open_envelope("xs-1", envelope))


@pytest.fixture
def sandbox(tmp_path):
    for number in (1, 2):
        create_sandbox_host(tmp_path, f"xs-{number}", address=f"127.0.1.{number}")
    return tmp_path


def host(sandbox: Path, name: str):
    return create_sandbox_host(sandbox, name)


def test_hello_answers_who_the_host_is_with_nothing_sealed(sandbox):
    xs1 = host(sandbox, "xs-1")
    identity = answer(run_plugin(sandbox, "hello", request(xs1)), contract.HELLO)
    assert (identity.uuid, identity.hostname, identity.addresses) == (
        xs1.uuid,
        "xs-1",
        ["127.0.1.1"],
    )
    assert identity.sandbox and identity.public_key == ""  # no Celery agent, no key
    # The sandbox root may also name the host's own directory.
    again = answer(run_plugin(sandbox / "xs-1", "hello", request(xs1)), contract.HELLO)
    assert again.uuid == xs1.uuid


def test_membership_create_writes_cluster_conf_and_cluster_query_reads_it(sandbox):
    xs1 = host(sandbox, "xs-1")
    for number, name in enumerate(("xs-1", "xs-2")):
        fields = request(
            xs1,
            cluster="pool",
            hostname=name,
            uuid=host(sandbox, name).uuid,
            id=number,
            addresses=[f"127.0.1.{number + 1}"],
        )
        added = answer(run_plugin(sandbox, "membership_create", fields), contract.MEMBERSHIP_CREATE)
        assert added.changed and added.node.name == name and added.node.number == number
    assert "name = xs-2" in xs1.path("etc/ocfs2/cluster.conf").read_text()
    query = answer(
        run_plugin(sandbox, "cluster_query", request(xs1, cluster="pool")),
        contract.CLUSTER_QUERY,
    )
    assert query.configured and not query.running
    assert [(node.hostname, node.number) for node in query.hosts] == [("xs-1", 0), ("xs-2", 1)]
    started = answer(
        run_plugin(sandbox, "cluster_start", request(xs1, cluster="pool")),
        contract.CLUSTER_START,
    )
    assert started.running and started.local_node == 0


def test_io_probe_reports_the_hosts_io_paths(sandbox):
    xs2 = host(sandbox, "xs-2")
    probe = answer(run_plugin(sandbox, "io_probe", request(xs2)), contract.IO_PROBE)
    assert probe.multipath["available"] and probe.multipath["error"] is None
    assert [bond["name"] for bond in probe.bonds] == ["bond0"]


def test_a_console_of_another_contract_is_refused_naming_both_versions(sandbox):
    xs1 = host(sandbox, "xs-1")
    fields = {"host_uuid": xs1.uuid, "contract": contract.CONTRACT_VERSION + 1, "cluster": "pool"}
    struct = run_plugin(sandbox, "cluster_query", fields)
    assert struct["Status"] == "Success"  # the refusal travels in the envelope
    envelope = json.loads(struct["Value"])
    assert envelope["contract"] == contract.CONTRACT_VERSION
    with pytest.raises(contract.ContractMismatch) as refused:
        contract.open_envelope("xs-1", envelope)
    assert f"agent contract {contract.CONTRACT_VERSION + 1}" in str(refused.value)
    assert f"speaks contract {contract.CONTRACT_VERSION}" in str(refused.value)
    assert "upgrade the agent on xs-1" in str(refused.value)


def test_an_unknown_function_is_xapis_unknown_plugin_function(sandbox):
    struct = run_plugin(sandbox, "format_everything", {})
    assert struct == {
        "Status": "Failure",
        "ErrorDescription": ["UNKNOWN_XENAPI_PLUGIN_FUNCTION", "format_everything"],
    }


def test_an_agent_error_is_a_plugin_failure_with_its_class_and_message(sandbox):
    xs1 = host(sandbox, "xs-1")
    fields = request(xs1, cluster="pool", hostname="xs-1", uuid=xs1.uuid, id=300, addresses=[])
    struct = run_plugin(sandbox, "membership_create", fields)
    assert struct["Status"] == "Failure"
    code, function, kind, message = struct["ErrorDescription"]
    assert (code, function, kind) == ("XENAPI_PLUGIN_FAILURE", "membership_create", "AgentError")
    assert message.startswith("Node number 300 is out of range: O2CB numbers run 0 to 254.")
    assert not xs1.path("etc/ocfs2/cluster.conf").exists()


def test_requests_are_decoded_strictly_and_for_this_host_only(sandbox):
    xs1, xs2 = host(sandbox, "xs-1"), host(sandbox, "xs-2")
    unknown = run_plugin(sandbox, "cluster_query", request(xs1, cluster="pool", nodes=3))
    assert unknown["ErrorDescription"][2:] == [
        "ContractError",
        f"cluster_query request does not fit agent contract {contract.CONTRACT_VERSION}: "
        "has unknown nodes.",
    ]
    wrong_host = run_plugin(sandbox / "xs-1", "hello", request(xs2))
    assert wrong_host["ErrorDescription"][2:] == [
        "AgentError",
        f"This is host {xs1.uuid} (xs-1), not {xs2.uuid}.",
    ]
    no_request = run_plugin(sandbox, "hello", args={"cluster": "pool"})
    assert no_request["ErrorDescription"][3] == (
        "hello takes one argument, request: the request's JSON."
    )


def test_a_change_waits_for_the_call_holding_the_hosts_lock(sandbox):
    xs1 = host(sandbox, "xs-1")
    lock = xs1.path(LOCK_FILE)
    lock.parent.mkdir(parents=True, exist_ok=True)
    fields = request(
        xs1, cluster="pool", hostname="xs-1", uuid=xs1.uuid, id=0, addresses=["127.0.1.1"]
    )
    with open(lock, "a") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)  # another call is changing the host
        waiting = run_plugin(sandbox, "membership_create", fields, wait=False)
        time.sleep(1.0)
        assert waiting.poll() is None
        assert not xs1.path("etc/ocfs2/cluster.conf").exists()
        # A read-only call does not wait.
        answer(run_plugin(sandbox, "hello", request(xs1)), contract.HELLO)
    added = answer(response(waiting), contract.MEMBERSHIP_CREATE)
    assert added.changed and xs1.path("etc/ocfs2/cluster.conf").exists()
