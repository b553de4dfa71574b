"""The SAN LUNs a host sees, what they hold, and formatting one with OCFS2.

Real hosts: LUNs are the multipath maps (`/dev/mapper/<name>`); sandbox hosts: the
shared sparse files of the sandbox SAN. Either way the signature comes from
`blkid -p` (a low-level probe, not its cache) and formatting is the real
`mkfs.ocfs2` for the O2CB stack with global heartbeat.
"""

from __future__ import annotations

import subprocess

from .errors import AgentError
from .hostroot import HostRoot
from .kernel import find_tool

# blkid's exit status when it finds no signature on a device.
BLKID_NOTHING_FOUND = 2
# Journals: OCFS2's default suits real LUNs; sandbox LUNs are small sparse files.
SANDBOX_JOURNAL = "size=4M"


def signature(device: str) -> dict:
    """What `blkid -p` finds on a device: TYPE, LABEL, UUID... (empty when nothing)."""
    result = subprocess.run(
        [find_tool("blkid"), "-p", "-o", "export", device],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if result.returncode == BLKID_NOTHING_FOUND:
        return {}
    if result.returncode != 0:
        raise AgentError(f"blkid could not read {device}: {result.stderr.strip() or 'no reason'}")
    fields = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    fields.pop("DEVNAME", None)
    return fields


def region_of(fields: dict) -> str | None:
    """The O2CB heartbeat region name of an OCFS2 volume: its UUID, hex, upper case."""
    if fields.get("TYPE") != "ocfs2" or not fields.get("UUID"):
        return None
    return fields["UUID"].replace("-", "").upper()


def list_luns(root: HostRoot) -> list[dict]:
    """Every SAN LUN this host sees, with its identity, size, paths and signature."""
    if root.sandbox:
        from .sandbox_io import io_state, sandbox_luns

        failed = set(io_state(root)["failed_paths"])
        raw = [
            {
                "scsi_id": lun["wwid"],
                "size": lun["size"],
                "vendor": lun["vendor"],
                "model": lun["model"],
                "device": lun["file"],
                "dm": lun["dm"],
                "paths": len(lun["paths"]),
                "paths_up": sum(p["device"] not in failed for p in lun["paths"]),
            }
            for lun in sandbox_luns(root)
        ]
    else:
        from .io_probe import probe_multipath

        raw = []
        for map_ in probe_multipath(root)["maps"]:
            paths = [p for g in map_["path_groups"] for p in g["paths"]]
            raw.append(
                {
                    "scsi_id": map_.get("wwid") or map_["name"],
                    "size": map_.get("size_bytes"),
                    "vendor": map_.get("vendor") or "",
                    "model": map_.get("product") or "",
                    "device": f"/dev/mapper/{map_['name']}",
                    "dm": map_.get("dm"),
                    "paths": len(paths),
                    "paths_up": sum(p.get("dm_state") == "active" for p in paths),
                }
            )
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
        label[:63],
    ]
    if root.sandbox:
        command += ["-J", SANDBOX_JOURNAL]
    # -F also skips the live-cluster check and makes mkfs ask to proceed, from forked
    # children too: answer as yes(1) does, endlessly. Success is mkfs's exit status
    # (blkid can report ocfs2 after a failed attempt).
    result = subprocess.run(
        ["bash", "-c", 'yes | exec "$@"', "mkfs", *command, lun["device"]],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines()
        raise AgentError(f"mkfs.ocfs2 failed on {scsi_id}: {lines[-1] if lines else 'no reason'}")
    region = region_of(signature(lun["device"]))
    if region is None:
        raise AgentError(f"mkfs.ocfs2 said it succeeded but {scsi_id} holds no OCFS2 volume.")
    return {"scsi_id": scsi_id, "region": region, "label": label[:63], "slots": slots}


SANDBOX_MOUNTS = "var/lib/sandbox/mounts.json"


def mount_point(sr_uuid: str) -> str:
    # Where XenServer's storage manager mounts an SR.
    return f"var/run/sr-mount/{sr_uuid}"


def sr_mount(root: HostRoot, scsi_id: str, sr_uuid: str, cluster: str) -> dict:
    """Mount an SR's OCFS2 volume (PBD.plug); mounting twice is a no-op."""
    from .fsutil import read_json, write_json
    from .kernel import CONFIGFS

    lun = find_lun(root, scsi_id)
    if lun["region"] is None:
        raise AgentError(f"LUN {scsi_id} holds no OCFS2 volume: format it first.")
    target = root.path(mount_point(sr_uuid))
    if root.sandbox:
        # As mount.ocfs2 with global heartbeat: the volume's region must be heartbeating.
        if not root.path(f"{CONFIGFS}/{cluster}/heartbeat/{lun['region']}").is_dir():
            raise AgentError(
                f"mount.ocfs2: {scsi_id} is not heartbeating in cluster {cluster} on "
                f"{root.hostname}: start the cluster (with its heartbeat regions) first."
            )
        mounts = read_json(root.path(SANDBOX_MOUNTS), {})
        mounts[sr_uuid] = {"device": lun["device"], "region": lun["region"], "cluster": cluster}
        target.mkdir(parents=True, exist_ok=True)
        write_json(root.path(SANDBOX_MOUNTS), mounts)
        return {"mounted": str(target), "changed": True}
    if subprocess.run(["mountpoint", "-q", str(target)], check=False).returncode == 0:
        return {"mounted": str(target), "changed": False}
    target.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        ["mount", "-t", "ocfs2", lun["device"], str(target)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode != 0:
        raise AgentError(f"mount of {scsi_id} failed: {result.stderr.strip() or 'no reason'}")
    return {"mounted": str(target), "changed": True}


def sr_unmount(root: HostRoot, sr_uuid: str) -> dict:
    """Unmount an SR (PBD.unplug); unmounting what is not mounted is a no-op."""
    from .fsutil import read_json, write_json

    target = root.path(mount_point(sr_uuid))
    if root.sandbox:
        mounts = read_json(root.path(SANDBOX_MOUNTS), {})
        changed = mounts.pop(sr_uuid, None) is not None
        write_json(root.path(SANDBOX_MOUNTS), mounts)
        return {"unmounted": str(target), "changed": changed}
    if subprocess.run(["mountpoint", "-q", str(target)], check=False).returncode != 0:
        return {"unmounted": str(target), "changed": False}
    result = subprocess.run(["umount", str(target)], capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise AgentError(f"umount of SR {sr_uuid} failed: {result.stderr.strip() or 'busy'}")
    return {"unmounted": str(target), "changed": True}
