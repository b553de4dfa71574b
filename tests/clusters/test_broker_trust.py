"""Redis is no trust boundary: forged messages of each kind are refused, logged and alerted.

An attacker here is anyone who can write to the console's Redis: they send messages
through it exactly as the console and agents do (Celery `send_task`), to the real
console worker and the real agent.
"""

import pytest
from celery import current_app
from django.conf import settings

from agent import contract, signing
from agent.host import hello
from agent.sandbox.host import create_sandbox_host
from agent.sandbox.io import create_sandbox_san
from clusters.agents import AgentCallFailed, agent, console_key, open_answer
from clusters.models import Host
from clusters.services.hosts import host_accept, host_record_report
from core.models import Alert, AuditEvent
from crashes.models import HostCrashdump
from tests.conftest import start_agent, stop_process, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

FORGED_ADDRESSES = ["203.0.113.66"]


@pytest.fixture
def pool(sandbox_dir):
    """Two accepted sandbox hosts, as their agents introduced them."""
    create_sandbox_san(sandbox_dir, count=1, size=64 << 20)
    roots = [create_sandbox_host(sandbox_dir, f"bt-{i}", address=f"127.0.5.{i}") for i in (1, 2)]
    hosts = [host_accept(host=host_record_report(report=hello(r)), actor=None) for r in roots]
    return roots, hosts


def forge(task: str, queue: str | None = None, **kwargs):
    current_app.send_task(task, kwargs=kwargs, queue=queue or settings.CONSOLE_QUEUE)


def refused_alert(host, name="AGENT_MESSAGE_REFUSED"):
    return Alert.objects.filter(name=name, target_id=str(host.pk), cleared=None).first()


def forged_report(root, **changes):
    return {**hello(root), "addresses": FORGED_ADDRESSES, **changes}


def test_an_unsealed_report_changes_nothing(pool, console_worker):
    (root, _), (host, _) = pool
    forge(contract.AGENT_REPORT, contract=contract.CONTRACT_VERSION, report=forged_report(root))
    alert = wait_for(lambda: refused_alert(host), message="the forged report was not alerted")
    host.refresh_from_db()
    assert host.addresses == ["127.0.5.1"]
    assert "not sealed" in alert.message and "Redis" in alert.message
    assert AuditEvent.objects.filter(action="agent.message_refused", outcome="denied").exists()


def test_a_report_sealed_with_another_key_is_refused(pool, console_worker, tmp_path):
    (root, _), (host, _) = pool
    key = signing.load_or_create_key(tmp_path / "attacker.key")
    report = forged_report(root, public_key=signing.public_text(key))
    payload = {"contract": contract.CONTRACT_VERSION, "report": report, "refused": []}
    sealed = signing.seal(key, signer=root.uuid, purpose=contract.REPORT_PURPOSE, payload=payload)
    forge(contract.AGENT_REPORT, sealed=sealed)
    alert = wait_for(lambda: refused_alert(host), message="the forged report was not alerted")
    assert "signature is not" in alert.message
    host.refresh_from_db()
    assert host.addresses == ["127.0.5.1"] and host.public_key == hello(root)["public_key"]


def test_a_host_cannot_speak_for_another(pool, console_worker):
    (victim_root, liar_root), (victim, liar) = pool
    report = forged_report(liar_root, uuid=victim_root.uuid, hostname=victim.hostname)
    payload = {"contract": contract.CONTRACT_VERSION, "report": report, "refused": []}
    sealed = signing.seal(
        signing.load_or_create_key(liar_root.path("etc/o2cb-agent/host.key")),
        signer=liar_root.uuid,
        purpose=contract.REPORT_PURPOSE,
        payload=payload,
    )
    forge(contract.AGENT_REPORT, sealed=sealed)
    alert = wait_for(lambda: refused_alert(liar), message="the lie was not alerted")
    assert f"speaks for {victim_root.uuid}" in alert.message
    victim.refresh_from_db()
    assert victim.addresses == ["127.0.5.1"]


def test_a_forged_crash_report_records_no_crash(pool, console_worker):
    (root, _), (host, _) = pool
    dump = {"name": "forged", "files": [], "size": 0, "logs": {}, "analysis": None}
    forge(contract.CRASH_REPORT, contract=contract.CONTRACT_VERSION, host_uuid=root.uuid, dump=dump)
    wait_for(lambda: refused_alert(host), message="the forged crash report was not alerted")
    assert not HostCrashdump.objects.exists()


def test_an_agent_runs_no_call_the_console_did_not_seal(
    pool, sandbox_dir, console_worker, tmp_path
):
    (root, _), (host, _) = pool
    process = start_agent(sandbox_dir, report_interval=1.0)
    try:
        [lun] = wait_for(lambda: _luns(host), message="the agent never answered")
        attacker = signing.load_or_create_key(tmp_path / "attacker.key")
        request = {"contract": contract.CONTRACT_VERSION, "scsi_id": lun.scsi_id}
        request.update(cluster="pool", label="x", slots=4)
        forged = signing.seal(
            attacker,
            signer=contract.CONSOLE_SIGNER,
            purpose=contract.call_purpose("lun_format", root.uuid),
            payload=request,
        )
        for kwargs in ({"sealed": forged}, request):  # sealed by another key; not sealed
            result = current_app.send_task(
                "agent.lun_format", kwargs={"host_uuid": root.uuid, **kwargs}, queue=host.queue
            )
            try:
                result.get(timeout=20)
            except Exception as exc:
                assert "refused agent.lun_format" in str(exc)
        assert agent(host).lun_list()[0].filesystem is None, "the LUN was formatted"
        alert = wait_for(
            lambda: refused_alert(host, "AGENT_REFUSED_CALLS"), 30, message="never told"
        )
        assert "lun_format" in alert.message
    finally:
        stop_process(process)


def test_a_sealed_call_replayed_from_the_broker_is_refused(pool, sandbox_dir, console_worker):
    (root, _), (host, _) = pool
    process = start_agent(sandbox_dir)
    try:
        wait_for(lambda: _luns(host), message="the agent never answered")
        sealed = signing.seal(
            console_key(),
            signer=contract.CONSOLE_SIGNER,
            purpose=contract.call_purpose("hello", root.uuid),
            payload={"contract": contract.CONTRACT_VERSION},
        )
        kwargs = {"host_uuid": root.uuid, "sealed": sealed}
        first = current_app.send_task("agent.hello", kwargs=kwargs, queue=host.queue)
        answer = open_answer(host, "hello", sealed["nonce"], first.get(timeout=20))
        assert answer["answer"]["uuid"] == root.uuid
        again = current_app.send_task("agent.hello", kwargs=kwargs, queue=host.queue)
        with pytest.raises(Exception, match="replayed"):
            again.get(timeout=20)
    finally:
        stop_process(process)


def test_an_answer_not_sealed_by_the_host_is_refused(pool, tmp_path):
    (root, other_root), (host, _) = pool
    envelope = contract.answer_envelope(contract.decode(contract.HostIdentity, hello(root), "x"))
    for key in (tmp_path / "attacker.key", other_root.path("etc/o2cb-agent/host.key")):
        forged = signing.seal(
            signing.load_or_create_key(key),
            signer=root.uuid,
            purpose=contract.answer_purpose("n1"),
            payload=envelope,
        )
        with pytest.raises(AgentCallFailed, match="refused: the signature is not"):
            open_answer(host, "hello", "n1", forged)
    genuine = signing.seal(
        signing.load_or_create_key(root.path("etc/o2cb-agent/host.key")),
        signer=root.uuid,
        purpose=contract.answer_purpose("n1"),
        payload=envelope,
    )
    with pytest.raises(AgentCallFailed, match="not for 'answer to n2'"):
        open_answer(host, "hello", "n2", genuine)
    assert open_answer(host, "hello", "n1", genuine) == envelope


def test_the_hosts_page_shows_each_agents_key(pool, admin_client):
    _roots, hosts = pool
    page = admin_client.get("/hosts/").content.decode()
    for host in Host.objects.filter(pk__in=[h.pk for h in hosts]):
        assert host.key_fingerprint.startswith("SHA256:") and host.key_fingerprint in page


def _luns(host):
    try:
        return agent(host, timeout=3).lun_list()
    except Exception:
        return None


def test_console_key_prints_what_an_agent_must_trust(tmp_path, capsys):
    from django.core.management import call_command

    from agent.host import trust_console
    from clusters.agents import console_public_key

    call_command("console_key", "--fingerprint")
    printed = capsys.readouterr()
    assert printed.out.strip() == console_public_key()
    root = create_sandbox_host(tmp_path / "sandbox", "ck-1", address="127.0.7.1")
    assert f"fingerprint {trust_console(root, printed.out)}" in printed.err
