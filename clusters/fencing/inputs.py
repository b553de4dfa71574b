"""The model's input from what the console knows of a cluster.

- members and node numbers: the current memberships;
- who heartbeats: the monitor's last look (`ClusterHostStatus.running`);
- the timeouts: what each host runs with (`ClusterHostStatus.timeouts`), the cluster's
  being those of its lowest numbered running node (the node every other must match);
- heartbeat regions, their LUN and paths: each host's last I/O probe (`HostIOHealth`):
  the region's device, the multipath map on it (WWID, the SCSI hosts or NVMe controllers
  its working paths go through, how long it queues without a path), the array from the
  LUN's vendor; with no probe, each SR's LUN is a region every member writes;
- the network: the probe's bonds and their slaves that carry traffic (a link and, in
  802.3ad, the active aggregator), on one cluster network (the console knows no switch;
  a lab scenario names its switches in a `Layout` of its own);
- HA's timeout from the probe, the SRs from the plugged PBDs.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import fields

from clusters.iohealth.rules import map_paths, path_ok, path_set, slave_carries_traffic
from clusters.models import LUN, PBD, Cluster, ClusterHostStatus, HostIOHealth, Membership

from .model import Layout, LunPaths, Nic, Node, Region, Timeouts

TIMEOUT_FIELDS = [f.name for f in fields(Timeouts)]


def timeouts_from(values: dict | None) -> Timeouts:
    """A host's reported timeouts; what it does not report is O2CB's default."""
    values = values or {}
    defaults = Timeouts()
    return Timeouts(
        **{
            name: int(values[name])
            if isinstance(values.get(name), int)
            else getattr(defaults, name)
            for name in TIMEOUT_FIELDS
        }
    )


def _cluster_probe(probe: dict, cluster_name: str) -> dict:
    for entry in (probe.get("heartbeat") or {}).get("clusters", []):
        if entry.get("name") == cluster_name:
            return entry
    return {}


def _array(lun: LUN | None, map_: dict) -> str:
    """The array a LUN is on, as far as the console can tell: its vendor. Two arrays of one
    vendor count as one, which errs on the side of a warning."""
    vendor = ((lun.vendor if lun else "") or map_.get("vendor") or "").strip()
    return vendor or "of unknown vendor"


# Long: one read of memberships, statuses, probes, LUNs and PBDs, joined host by host
def layout_for(cluster: Cluster) -> Layout:
    memberships = list(
        Membership.objects.filter(cluster=cluster, left__isnull=True, host__isnull=False)
        .select_related("host")
        .order_by("number")
    )
    host_ids = [m.host_id for m in memberships]
    statuses = {s.host_id: s for s in ClusterHostStatus.objects.filter(cluster=cluster)}
    probes = {h.host_id: h.probe or {} for h in HostIOHealth.objects.filter(host_id__in=host_ids)}
    srs = defaultdict(list)
    for pbd in PBD.objects.filter(
        sr__cluster=cluster, host_id__in=host_ids, plugged=True
    ).select_related("sr"):
        srs[pbd.host_id].append(pbd.sr.name)

    region_luns: dict[str, str] = {}
    region_maps: dict[str, dict] = {}
    writers: dict[str, set[str]] = defaultdict(set)
    nodes = []
    for membership in memberships:
        host = membership.host
        status = statuses.get(host.pk)
        probe = probes.get(host.pk, {})
        multipath = probe.get("multipath") or {}
        maps_by_dm = {m.get("dm"): m for m in multipath.get("maps", []) if m.get("dm")}
        queue = {
            q.get("wwid") or q.get("map"): q.get("queue_seconds")
            for q in multipath.get("queueing", [])
        }
        luns = []
        for map_ in multipath.get("maps", []):
            wwid = map_.get("wwid") or map_.get("name")
            path_sets = sorted({path_set(p) for p in map_paths(map_) if path_ok(p)} - {None})
            luns.append(
                LunPaths(wwid, tuple(path_sets), queue.get(wwid, queue.get(map_.get("name"), 0)))
            )
        for region in _cluster_probe(probe, cluster.cluster_name).get("regions", []):
            name, device = region.get("region"), region.get("device") or ""
            if not name:
                continue
            map_ = maps_by_dm.get(device.removeprefix("/dev/"))
            if map_:
                region_luns.setdefault(name, map_.get("wwid") or map_.get("name"))
                region_maps.setdefault(name, map_)
            writers[name].add(host.hostname)
        nics = tuple(
            Nic(slave["name"], bond=bond.get("name"))
            for bond in probe.get("bonds") or []
            for slave in bond.get("slaves", [])
            if slave.get("name") and slave_carries_traffic({"mii_status": "up", **slave})
        )
        ha = (probe.get("ha") or {}).get("timeouts_s") or {}
        nodes.append(
            Node(
                host=host.hostname,
                number=membership.number,
                heartbeating=bool(status and status.running),
                nics=nics,
                luns=tuple(luns),
                srs=tuple(sorted(srs[host.pk])),
                timeouts=timeouts_from(status.timeouts) if status and status.timeouts else None,
                ha_timeout_s=min(ha.values()) if ha else None,
            )
        )

    known = {lun.scsi_id: lun for lun in LUN.objects.filter(scsi_id__in=set(region_luns.values()))}
    regions = [
        Region(
            name,
            region_luns.get(name, name),
            _array(known.get(region_luns.get(name, "")), region_maps.get(name, {})),
            frozenset(writers[name]),
        )
        for name in sorted(writers)
    ]
    if not regions:
        # No probe yet: each SR's LUN carries a region (global heartbeat), every member on it.
        regions = [
            Region(str(sr.lun.scsi_id), sr.lun.scsi_id, _array(sr.lun, {}))
            for sr in cluster.srs.select_related("lun").order_by("name")
        ]
    running = [n for n in nodes if n.heartbeating and n.timeouts]
    timeouts = running[0].timeouts if running else Timeouts()
    return Layout(
        cluster=cluster.name,
        nodes=tuple(nodes),
        regions=tuple(regions),
        timeouts=timeouts,
        global_heartbeat=cluster.heartbeat_mode == "global",
    )
