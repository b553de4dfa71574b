"""A fence that leaves no dump (fence method reset) is still explained, from the peers."""

import pytest

from agent.kernel import CONFIGFS
from clusters.iohealth.services import io_health_collect
from crashes.models import HostCrashdump
from tests.conftest import wait_for
from tests.fencing import fence

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_reset_fence_is_explained_from_what_the_peers_logged(heartbeating_pool, settings):
    settings.CRASH_REBOOT_GRACE = 1
    _cluster, (victim, survivor) = heartbeating_pool
    victim.path(f"{CONFIGFS}/pool/fence_method").write_text("reset\n")
    io_health_collect(timeout=10)  # the console learns the fence method
    fence(victim)
    io_health_collect(timeout=10)
    crash = wait_for(
        lambda: HostCrashdump.objects.filter(hostname=victim.hostname).first(),
        60,
        message="the restart was never explained",
    )
    assert crash.source == "peers" and crash.cause == "o2cb"
    assert "O2CB fences by reset on this host" in crash.explanation
    assert any(e["file"].startswith(f"{survivor.hostname}:") for e in crash.evidence)
    assert any("No longer connected to node" in e["text"] for e in crash.evidence)
    from crashes.services import recommendations

    assert any("fence method to panic" in action for action in recommendations(crash))
