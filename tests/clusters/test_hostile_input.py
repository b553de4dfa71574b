"""Forms of the cluster pages answer a clear 400 to a host that is not a whole number."""

import pytest
from django.urls import reverse

from clusters.models import Membership

from .factories import ClusterFactory, HostFactory


def _not_whole_numbers(host):
    return ["abc", "1e3", f"{host.pk}.5", ""]


def test_joining_a_host_that_is_not_a_whole_number_is_a_clear_400(client, admin_user):
    cluster, host = ClusterFactory(), HostFactory()
    client.force_login(admin_user)
    for value in _not_whole_numbers(host):
        answer = client.post(reverse("membership-create", args=[cluster.pk]), {"host": value})
        assert answer.status_code == 400, value
        assert "whole number" in answer.content.decode(), value
    assert not Membership.objects.exists()


@pytest.mark.parametrize("value", ["abc", "1e3", "2.5", ""])
def test_sandbox_faults_refuse_a_host_that_is_not_a_whole_number(client, admin_user, value):
    HostFactory(sandbox=True)
    client.force_login(admin_user)
    answer = client.post(reverse("faults"), {"host": value, "fault": "x"})
    assert answer.status_code == 400
    assert "whole number" in answer.content.decode()
