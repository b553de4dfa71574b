"""Host and cluster names are refused at the console's edge, with a clear message."""

import uuid

import pytest

from clusters.models import Host
from clusters.services.hosts import host_record_report
from clusters.services.memberships import cluster_create
from core.errors import ConsoleError
from core.models import Alert


def report(hostname):
    return {"uuid": str(uuid.uuid4()), "hostname": hostname, "addresses": ["127.0.0.9"]}


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["../../etc", "a b=c", "x\nnumber = 0", "--number=3", "x" * 300])
def test_a_report_with_a_name_o2cb_cannot_use_registers_nothing(name, admin_client):
    with pytest.raises(ConsoleError, match="reports a name the console refuses") as refused:
        host_record_report(report=report(name))
    assert refused.value.status_code == 400
    assert not Host.objects.exists()
    assert Alert.objects.filter(name="HOST_NAME_INVALID").exists()
    assert admin_client.get("/hosts/").status_code == 200


@pytest.mark.django_db
def test_a_new_cluster_takes_only_a_name_o2cb_add_cluster_accepts(admin_client):
    with pytest.raises(Exception, match="o2cb add-cluster"):
        cluster_create(name="P", cluster_name="pool-1", hosts=[], actor=None)
    answer = admin_client.post(
        "/api/clusters/", {"name": "P", "cluster_name": "a_b"}, content_type="application/json"
    )
    assert answer.status_code == 400 and "o2cb add-cluster" in answer.content.decode()
    assert cluster_create(name="P", cluster_name="pool1", hosts=[], actor=None).pk
