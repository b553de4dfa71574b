"""I/O-health rounds fanned out: the beat's round cuts the accepted hosts into shards and
sends one task per shard to the rounds queue, so every rounds worker (and each of its
threads or processes) takes a share of the round.

A shard's task probes its hosts (the agent calls in threads) and judges and stores them
together (services.io_health_record_many). Two guards keep a slow round from piling up
behind the next one, per shard: a shard's message expires after one interval (a round
nobody started in time is skipped, its hosts are in the next one), and a shard whose
previous round is still running is skipped, so at most one runs per shard.
"""

from __future__ import annotations

import logging
import math
import secrets
import time
from dataclasses import dataclass

from celery import current_app
from django.conf import settings
from django.core.cache import cache
from django.db.models import F

from clusters.choices import HostRegistration
from clusters.iohealth.services import io_health_collect_hosts
from clusters.models import Host

logger = logging.getLogger(__name__)

SHARD_TASK = "clusters.collect_io_health_shard"
# What keeps hosts together in a shard: the hosts of one pool answer through one master
# and fail together (hosts with their own agent, no pool, are one group).
SHARD_GROUP = F("pool_id")
# A shard's guard outlives a worker that died holding it by this many intervals at most.
GUARD_INTERVALS = 3


@dataclass(frozen=True)
class Shard:
    """Some accepted hosts collected by one task; `key` names the same shard every round
    while the hosts stay the same (the overlap guard is kept per key)."""

    key: str
    host_ids: list[int]


def io_health_shards(*, hosts_per_shard: int) -> list[Shard]:
    """Every accepted host in exactly one shard: the hosts of a group (SHARD_GROUP) in
    chunks of at most `hosts_per_shard`, in the order of their ids, so a host keeps its
    shard from round to round until hosts before it come or go."""
    groups: dict[object, list[int]] = {}
    rows = (
        Host.objects.filter(registration=HostRegistration.ACCEPTED)
        .order_by("pk")
        .values_list("pk", SHARD_GROUP)
    )
    for pk, group in rows:
        groups.setdefault(group, []).append(pk)
    size = max(1, hosts_per_shard)
    return [
        Shard(f"{group}:{start // size}", ids[start : start + size])
        for group, ids in groups.items()
        for start in range(0, len(ids), size)
    ]


def io_health_round_start(*, interval: float, hosts_per_shard: int) -> list[Shard]:
    """Send this round's shards to the rounds queue; each must be done by the next round."""
    deadline = time.time() + interval
    shards = io_health_shards(hosts_per_shard=hosts_per_shard)
    for shard in shards:
        current_app.send_task(
            SHARD_TASK,
            kwargs={"shard": shard.key, "host_ids": shard.host_ids, "deadline": deadline},
            queue=settings.ROUNDS_QUEUE,
            # A shard nobody started within the interval belongs to a round that is over.
            expires=interval,
            ignore_result=True,
        )
    return shards


def io_health_collect_shard(
    *, shard: str, host_ids: list[int], deadline: float
) -> dict[Host, str] | None:
    """Collect and judge one shard of a round whose answers are due by `deadline` (a Unix
    time). None when the shard was skipped: its round is over, or its previous round
    still runs."""
    timeout = deadline - time.time()
    if timeout <= 0:
        return None
    guard = f"io-health-shard:{shard}"
    token = secrets.token_hex(8)
    held_for = math.ceil(settings.IO_HEALTH_INTERVAL * GUARD_INTERVALS)
    if not cache.add(guard, token, timeout=held_for):
        logger.warning("I/O-health shard %s skipped: its previous round still runs", shard)
        return None
    try:
        hosts = Host.objects.filter(pk__in=host_ids, registration=HostRegistration.ACCEPTED)
        return io_health_collect_hosts(hosts, timeout=timeout)
    finally:
        if cache.get(guard) == token:
            cache.delete(guard)
