"""The agent client over XAPI: host.call_plugin of the real o2cb-agent plugin file, run
by the stand-in master as xapi runs it, on sandbox host roots."""

import pytest

from agent.sandbox.faults import POWERED_OFF_FILE
from agent.sandbox.io import create_sandbox_san
from clusters.agents import XAPI_TRANSPORT, AgentCallFailed, HostUnreachable, agent
from tests.clusters.test_agent_contract import exercise_every_call

pytestmark = pytest.mark.django_db


def test_the_client_round_trips_every_call_through_the_host_plugin(
    xapi_pool,
    sandbox_dir,
    settings,
):
    settings.AGENT_CALL_TIMEOUT = 60
    create_sandbox_san(sandbox_dir, count=1, size=64 << 20)
    host = xapi_pool.add_host(sandbox_dir, "xs-1", "127.0.5.1")
    client = agent(host)
    assert client.transport is XAPI_TRANSPORT, "a pool's host is reached through its master"
    exercise_every_call(client, host, address="127.0.5.1")
    from agent import contract

    called = {fn for _uuid, fn in xapi_pool.runner.runs}
    assert called == set(contract.CALLS), "every call went through the plugin"
    assert xapi_pool.master.calls.count("session.login_with_password") == 1, "one session"


def test_a_plugin_failure_is_the_agents_own_error(xapi_pool, sandbox_dir):
    host = xapi_pool.add_host(sandbox_dir, "xs-1", "127.0.5.1")
    with pytest.raises(AgentCallFailed) as failed:
        agent(host).sr_mount("3600-no-such-lun", "sr-x", "pool")
    message = failed.value.message
    assert message.startswith("xs-1: sr_mount failed: ") and "3600-no-such-lun" in message
    assert "XENAPI_PLUGIN_FAILURE" not in message, "the agent's words, not XAPI's wrapping"


def test_a_host_without_the_plugin_or_with_an_older_one_says_to_install_it(
    xapi_pool,
    sandbox_dir,
    tmp_path,
):
    host = xapi_pool.add_host(sandbox_dir, "xs-1", "127.0.5.1")
    with pytest.raises(AgentCallFailed, match="install or upgrade the o2cb-agent RPM on that"):
        XAPI_TRANSPORT.send(host, "no_such_call", {"host_uuid": str(host.uuid)}, 30)
    xapi_pool.runner.plugins_dir = tmp_path / "no-plugins"
    with pytest.raises(AgentCallFailed) as missing:
        agent(host).hello()
    assert "xs-1 has no o2cb-agent host plugin" in missing.value.message
    assert missing.value.detail["code"] == "XENAPI_MISSING_PLUGIN"


def test_an_unreachable_host_or_master_is_retried_not_failed(
    xapi_pool,
    sandbox_dir,
    settings,
):
    host = xapi_pool.add_host(sandbox_dir, "xs-1", "127.0.5.1")
    (sandbox_dir / "xs-1" / POWERED_OFF_FILE).parent.mkdir(parents=True, exist_ok=True)
    (sandbox_dir / "xs-1" / POWERED_OFF_FILE).write_text("")
    with pytest.raises(HostUnreachable, match="xs-1 cannot be reached by its pool master"):
        agent(host).hello()
    (sandbox_dir / "xs-1" / POWERED_OFF_FILE).unlink()
    assert agent(host).hello().hostname == "xs-1"
    xapi_pool.stop()
    with pytest.raises(HostUnreachable, match="xs-1 did not answer 'hello'"):
        agent(host, timeout=2).hello()
