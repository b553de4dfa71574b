"""LUN listing and formatting with the real blkid and mkfs.ocfs2, on sandbox LUNs."""

import subprocess

import pytest

from agent import storage
from agent.errors import AgentError
from agent.names import NameRefused
from agent.sandbox.host import create_sandbox_host
from agent.sandbox.io import create_sandbox_san, inject_fault


@pytest.fixture
def host(tmp_path):
    create_sandbox_san(tmp_path, count=2, size=1 << 30)
    return create_sandbox_host(tmp_path, "st-1")


def test_luns_are_listed_with_paths_and_no_signature_when_blank(host):
    luns = storage.list_luns(host)
    assert [lun["filesystem"] for lun in luns] == [None, None]
    assert {(lun["paths"], lun["paths_up"]) for lun in luns} == {(2, 2)}
    inject_fault(host, "path-fail", "sdb")
    assert storage.list_luns(host)[0]["paths_up"] == 1


def test_formatting_makes_an_ocfs2_volume_whose_uuid_names_its_region(host):
    lun = storage.list_luns(host)[1]
    done = storage.format_lun(host, lun["scsi_id"], "pool", "gold", 8)
    (after,) = [x for x in storage.list_luns(host) if x["scsi_id"] == lun["scsi_id"]]
    assert after["filesystem"] == "ocfs2" and after["label"] == "gold"
    assert after["region"] == done["region"] == after["fs_uuid"].replace("-", "").upper()
    # What the real tools say about the volume.
    query = subprocess.run(
        ["tunefs.ocfs2", "-Q", "%N %U", lun["device"]], capture_output=True, text=True, check=True
    ).stdout.split()
    assert query[0] == "8" and query[1].replace("-", "").upper() == done["region"]


def test_bad_format_requests_are_refused(host):
    with pytest.raises(AgentError, match="does not see LUN 3600nope"):
        storage.format_lun(host, "3600nope", "pool", "x", 4)
    scsi_id = storage.list_luns(host)[0]["scsi_id"]
    with pytest.raises(AgentError, match="OCFS2 allows 1 to 255"):
        storage.format_lun(host, scsi_id, "pool", "x", 0)
    host.path("etc/sandbox").mkdir(parents=True, exist_ok=True)
    host.path("etc/sandbox/hidden-luns").write_text(scsi_id + "\n")
    with pytest.raises(AgentError, match="does not see"):
        storage.format_lun(host, scsi_id, "pool", "x", 4)


def test_a_label_longer_than_ocfs2_keeps_is_refused_and_the_lun_untouched(host):
    """mkfs.ocfs2 keeps 63 bytes of a label: a longer one is refused, never cut to fit."""
    lun = storage.list_luns(host)[0]
    with pytest.raises(NameRefused, match="is 64 bytes long, and an OCFS2 volume label"):
        storage.format_lun(host, lun["scsi_id"], "pool", "g" * 64, 4)
    assert storage.list_luns(host)[0]["filesystem"] is None
    done = storage.format_lun(host, lun["scsi_id"], "pool", "g" * 63, 4)
    assert done["label"] == storage.list_luns(host)[0]["label"] == "g" * 63


def test_mounting_needs_an_ocfs2_volume_that_is_heartbeating(host):
    lun = storage.list_luns(host)[0]
    with pytest.raises(AgentError, match="holds no OCFS2 volume"):
        storage.sr_mount(host, lun["scsi_id"], "sr-1", "pool")
    storage.format_lun(host, lun["scsi_id"], "pool", "gold", 4)
    with pytest.raises(AgentError, match="is not heartbeating in cluster pool"):
        storage.sr_mount(host, lun["scsi_id"], "sr-1", "pool")
    assert storage.sr_unmount(host, "sr-1")["changed"] is False, "nothing to unmount"
