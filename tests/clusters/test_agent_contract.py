"""The agent contract as a user meets it: one client, typed answers, clear refusals.

The first tests give the client a transport that answers what an agent of another
version would; the last ones run the real agent (its own process) and a real Celery
worker against Redis and make every call of the contract through the client.
"""

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from agent import __version__, contract, signing
from agent.host import hello
from agent.sandbox.host import create_sandbox_host
from agent.sandbox.io import create_sandbox_san
from agent.worker import TASKS, serve_hosts
from clusters.agents import (
    AgentCallFailed,
    AgentClient,
    AgentContractMismatch,
    agent,
    console_key,
    console_public_key,
)
from clusters.services.hosts import host_record_report
from tests.conftest import start_agent, stop_process, wait_for

HOST = SimpleNamespace(hostname="xs-7", uuid="6f1c0e0a-8a47-4bd2-9c39-1d7b2a1f0b11")
QUERY = {
    "cluster": "pool",
    "configured": True,
    "running": False,
    "enabled": False,
    "heartbeat_mode": "global",
    "needs_restart": False,
    "restart_reasons": [],
    "local_node": 0,
    "timeouts": {
        "dead_threshold": 31,
        "idle_timeout_ms": 30000,
        "keepalive_delay_ms": 2000,
        "reconnect_delay_ms": 2000,
    },
    "hosts": [],
}


class Canned:
    """A transport that answers every call with one envelope (or raises one error)."""

    def __init__(self, answer=None, error=None):
        self.answer, self.error, self.sent = answer, error, []

    def send(self, host, call, kwargs, timeout):
        self.sent.append((call, kwargs))
        if self.error is not None:
            raise self.error
        return self.answer


def client(answer=None, error=None) -> AgentClient:
    return AgentClient(HOST, timeout=1, transport=Canned(answer, error))


def envelope(answer, version=contract.CONTRACT_VERSION):
    return {"contract": version, "agent_version": "9.9.9", "answer": answer}


def test_every_call_sends_its_typed_request_with_the_contract_version():
    agent = client(envelope(QUERY))
    query = agent.cluster_start("pool", statefile_vdi="vdi-1")
    assert isinstance(query, contract.ClusterQuery) and query.timeouts.dead_threshold == 31
    [(call, kwargs)] = agent.transport.sent
    assert call == "cluster_start"
    assert kwargs == {
        "host_uuid": HOST.uuid,
        "contract": contract.CONTRACT_VERSION,
        "cluster": "pool",
        "statefile_vdi": "vdi-1",
    }


def test_a_newer_agent_is_refused_naming_both_versions_and_what_to_upgrade():
    newer = contract.CONTRACT_VERSION + 1
    with pytest.raises(AgentContractMismatch) as refused:
        client(envelope({"anything": 1}, version=newer)).cluster_query("pool")
    message = refused.value.message
    assert f"agent contract {newer}" in message and "9.9.9" in message
    assert f"this console speaks contract {contract.CONTRACT_VERSION}" in message
    assert "upgrade the console" in message and "xs-7" in message


def test_an_older_agent_is_refused_and_told_to_upgrade():
    with pytest.raises(AgentContractMismatch, match="upgrade the agent on xs-7"):
        client(envelope(QUERY, version=0)).cluster_query("pool")
    # From before the contract: a bare answer, or a task that rejects the argument.
    with pytest.raises(AgentContractMismatch, match="older than contract 1.*upgrade the agent"):
        client(QUERY).cluster_query("pool")
    error = TypeError("cluster_query() got an unexpected keyword argument 'contract'")
    with pytest.raises(AgentContractMismatch, match="upgrade the agent on xs-7"):
        client(error=error).cluster_query("pool")


def test_an_answer_missing_a_field_or_with_an_unknown_one_is_refused_clearly():
    partial = {key: value for key, value in QUERY.items() if key != "running"}
    with pytest.raises(AgentCallFailed, match="xs-7's cluster_query answer .*lacks running"):
        client(envelope(partial)).cluster_query("pool")
    extra = {**QUERY, "quorum": 3}
    with pytest.raises(AgentCallFailed, match="has unknown quorum"):
        client(envelope(extra)).cluster_query("pool")
    nested = {**QUERY, "timeouts": {"dead_threshold": 31}}
    with pytest.raises(AgentCallFailed, match=r"timeouts does not fit .* lacks idle_timeout_ms"):
        client(envelope(nested)).cluster_query("pool")
    wrong = {**QUERY, "running": "yes"}
    with pytest.raises(AgentCallFailed, match="running should be bool"):
        client(envelope(wrong)).cluster_query("pool")


def test_the_agent_refuses_a_console_of_another_contract_without_doing_anything():
    newer = contract.CONTRACT_VERSION + 1
    for sent, said, upgrade in (
        (None, "no contract version", "upgrade the console"),
        (newer, f"agent contract {newer}", "upgrade the agent on"),
    ):
        answer = TASKS["cluster_query"].run(host_uuid=HOST.uuid, contract=sent, cluster="pool")
        assert answer["contract"] == contract.CONTRACT_VERSION and "answer" not in answer
        refusal = answer["refused"]
        assert f"speaks contract {contract.CONTRACT_VERSION}" in refusal and said in refusal
        assert __version__ in refusal and upgrade in refusal
        # The console passes the refusal on as a contract mismatch, not a failed call.
        with pytest.raises(AgentContractMismatch, match=upgrade):
            client(answer).cluster_query("pool")


def test_the_agent_refuses_a_request_that_does_not_fit(sandbox_dir, monkeypatch):
    root = create_sandbox_host(sandbox_dir, "ct-2", address="127.0.4.2")
    serve_hosts([root])
    monkeypatch.setenv("AGENT_CONSOLE_KEY", console_public_key())
    request = {"contract": contract.CONTRACT_VERSION, "cluster": "p", "nodes": 3}
    sealed = signing.seal(
        console_key(),
        signer=contract.CONSOLE_SIGNER,
        purpose=contract.call_purpose("cluster_query", root.uuid),
        payload=request,
    )
    with pytest.raises(contract.ContractError, match="cluster_query request .*unknown nodes"):
        TASKS["cluster_query"].run(host_uuid=root.uuid, sealed=sealed)


def test_every_call_of_the_contract_has_a_client_method():
    assert sorted(contract.CALLS) == sorted(
        name for name in contract.CALLS if callable(getattr(AgentClient, name, None))
    )


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_client_round_trips_every_call_against_a_real_agent(
    sandbox_dir, console_worker, admin_user, settings
):
    settings.AGENT_CALL_TIMEOUT = 20
    create_sandbox_san(sandbox_dir, count=1, size=64 << 20)
    root = create_sandbox_host(sandbox_dir, "ct-1", address="127.0.4.1")
    host = host_record_report(report=hello(root))
    process = start_agent(sandbox_dir)
    try:
        wait_for(lambda: _answers(host), message="the agent never answered")
        exercise_every_call(agent(host), host, address="127.0.4.1")
    finally:
        stop_process(process)


def exercise_every_call(client, host, *, address: str) -> None:
    """Every call of the contract once, in an order a host goes through, on a sandbox host
    alone with one LUN; each answer checked as the console uses it."""
    hostname = host.hostname
    identity = client.hello()
    assert (identity.uuid, identity.hostname, identity.sandbox) == (
        str(host.uuid),
        hostname,
        True,
    )
    made = client.membership_create("pool", hostname, str(host.uuid), 0, [address])
    assert made.changed and made.node.number == 0 and made.query.hosts[0].hostname == hostname
    started = client.cluster_start("pool")
    assert started.running and started.hosts[0].state == "alive"
    assert client.cluster_query("pool").local_node == 0
    [lun] = client.lun_list()
    assert lun.paths == 2 and lun.filesystem is None
    formatted = client.lun_format(lun.scsi_id, "pool", "ct", 4)
    assert client.heartbeat_region_add("pool", formatted.region).changed
    assert client.sr_mount(lun.scsi_id, "sr-ct", "pool").changed
    assert client.sr_unmount("sr-ct").changed
    probe = client.io_probe()
    assert probe.heartbeat["summary"]["regions"] == 1 and probe.multipath["available"]
    assert client.sandbox_fault("slave-down", "eth0").down_slaves == ["eth0"]
    now = datetime.now(UTC)
    peer = client.crash_peer_logs((now - timedelta(hours=1)).isoformat(), now.isoformat())
    assert peer == []
    assert client.crash_dumps([]) == [], "a host that never crashed has no dump to send"
    stopped = client.cluster_stop("pool")
    assert not stopped.running and not stopped.enabled
    gone = client.membership_destroy("pool", str(host.uuid))
    assert gone.changed and gone.node.name == hostname
    assert client.sandbox_reboot().boot_time > identity.boot_time


def _answers(host) -> bool:
    try:
        agent(host, timeout=2).hello()
    except AgentCallFailed:
        return False
    except Exception:
        return False
    return True
