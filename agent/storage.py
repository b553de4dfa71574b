"""The SAN LUNs a host sees, what they hold, and formatting one with OCFS2.

Which LUNs a host sees comes from the kernel seam (`root.kernel.san_luns()`: on a
real host the multipath maps, `/dev/mapper/<name>`; in the sandbox the shared sparse
files of its SAN), and so do mounts. Either way the signature comes from
`blkid -p` (a low-level probe, not its cache) and formatting is the real
`mkfs.ocfs2` for the O2CB stack with global heartbeat.
"""

import subprocess
from typing import List, Optional

from .errors import AgentError
from .hostroot import HostRoot
from .kernel import find_tool
from .names import check_volume_label

# blkid's exit status when it finds no signature on a device.
BLKID_NOTHING_FOUND = 2


def signature(device: str) -> dict:
    """What `blkid -p` finds on a device: TYPE, LABEL, UUID... (empty when nothing)."""
    result = subprocess.run(
        [find_tool("blkid"), "-p", "-o", "export", device],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
        timeout=30,
    )
    if result.returncode == BLKID_NOTHING_FOUND:
        return {}
    if result.returncode != 0:
        raise AgentError(f"blkid could not read {device}: {result.stderr.strip() or 'no reason'}")
    fields = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    fields.pop("DEVNAME", None)
    return fields


def region_of(fields: dict) -> Optional[str]:
    """The O2CB heartbeat region name of an OCFS2 volume: its UUID, hex, upper case."""
    if fields.get("TYPE") != "ocfs2" or not fields.get("UUID"):
        return None
    return fields["UUID"].replace("-", "").upper()


def list_luns(root: HostRoot) -> List[dict]:
    """Every SAN LUN this host sees, with its identity, size, paths and signature."""
    raw = root.kernel.san_luns()
    luns = []
    for lun in raw:
        fields = signature(lun["device"])
        luns.append(
            {
                **lun,
                "filesystem": fields.get("TYPE"),
                "label": fields.get("LABEL"),
                "fs_uuid": fields.get("UUID"),
                "region": region_of(fields),
            }
        )
    return luns


def find_lun(root: HostRoot, scsi_id: str) -> dict:
    for lun in list_luns(root):
        if lun["scsi_id"] == scsi_id:
            return lun
    raise AgentError(f"{root.hostname} does not see LUN {scsi_id}.")


def format_lun(root: HostRoot, scsi_id: str, cluster: str, label: str, slots: int) -> dict:
    """mkfs.ocfs2 for O2CB with global heartbeat; returns the new volume's region name."""
    check_volume_label(label)  # refused whole, never cut to fit
    lun = find_lun(root, scsi_id)
    if not 1 <= slots <= 255:
        raise AgentError(f"{slots} node slots: OCFS2 allows 1 to 255.")
    command = [
        find_tool("mkfs.ocfs2"),
        "-F",
        "--cluster-stack=o2cb",
        f"--cluster-name={cluster}",
        "--global-heartbeat",
        "-N",
        str(slots),
        "-L",
        label,
    ]
    command += root.kernel.mkfs_options()
    # -F also skips the live-cluster check and makes mkfs ask to proceed, from forked
    # children too: answer as yes(1) does, endlessly. Success is mkfs's exit status
    # (blkid can report ocfs2 after a failed attempt).
    result = subprocess.run(
        ["bash", "-c", 'yes | exec "$@"', "mkfs", *command, lun["device"]],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
        timeout=600,
    )
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines()
        raise AgentError(f"mkfs.ocfs2 failed on {scsi_id}: {lines[-1] if lines else 'no reason'}")
    region = region_of(signature(lun["device"]))
    if region is None:
        raise AgentError(f"mkfs.ocfs2 said it succeeded but {scsi_id} holds no OCFS2 volume.")
    return {"scsi_id": scsi_id, "region": region, "label": label, "slots": slots}


def mount_point(sr_uuid: str) -> str:
    # Where XenServer's storage manager mounts an SR.
    return f"var/run/sr-mount/{sr_uuid}"


def sr_mount(root: HostRoot, scsi_id: str, sr_uuid: str, cluster: str) -> dict:
    """Mount an SR's OCFS2 volume (PBD.plug); mounting twice is a no-op."""
    lun = find_lun(root, scsi_id)
    if lun["region"] is None:
        raise AgentError(f"LUN {scsi_id} holds no OCFS2 volume: format it first.")
    target = root.path(mount_point(sr_uuid))
    return {"mounted": str(target), "changed": root.kernel.mount(lun, target, sr_uuid, cluster)}


def sr_unmount(root: HostRoot, sr_uuid: str) -> dict:
    """Unmount an SR (PBD.unplug); unmounting what is not mounted is a no-op."""
    target = root.path(mount_point(sr_uuid))
    return {"unmounted": str(target), "changed": root.kernel.unmount(target, sr_uuid)}
