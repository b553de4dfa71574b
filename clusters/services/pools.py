"""Writes for XAPI pools: adding, editing and removing one, and keeping it current.

Keeping current follows Xen Orchestra (packages/xen-api): take a token with
`event.inject("pool", ref)` first, then read every record, then `event.from` from that
token, so nothing that changes during the read is missed. The token lives on the Pool
row, so whichever worker asks next carries on where the last one stopped. A password is
decrypted only inside clusters/xapi.py and never leaves it: not in a message, an audit
event, a log line or an answer.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import current_app
from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone

from agent.names import node_name_problem
from clusters.choices import HostRegistration, PoolState, PowerState
from clusters.models import PBD, SR, VM, ClusterHostStatus, Host, Membership, Pool
from clusters.services.hosts import pool_join
from clusters.services.memberships import membership_destroy
from clusters.xapi import (
    PoolRefused,
    PoolUnreachable,
    XapiError,
    master_address_problem,
    pool_session,
    pool_session_forget,
)
from core.choices import AlertName, AuditOutcome
from core.errors import ConsoleError
from core.progress import progress_note
from core.secrets import secret_encrypt
from core.services.alerts import alert_clear, alert_raise, alerts_clear_about
from core.services.audit import audit_record

logger = logging.getLogger(__name__)

# What the console reads of a pool, and follows with event.from.
CLASSES = ["pool", "host", "host_metrics", "VM", "SR", "PBD", "host_crashdump"]
# Tokens xapi no longer takes: read everything again (Xen Orchestra does the same).
RESYNC_CODES = {"EVENTS_LOST", "EVENT_FROM_TOKEN_PARSE_FAILURE", "SESSION_INVALID"}
# The crash collector (crashes/, which clusters must not import) is sent by name.
COLLECT_DUMPS_TASK = "crashes.collect_host_dumps"
SYNC_TASK = "clusters.sync_pool"


# Adding, editing, removing ---------------------------------------------------------------


def _probe(pool: Pool) -> tuple[str, str]:
    """Log in on the master now: (the pool's uuid, its name in XAPI), or a clear refusal.
    HOST_IS_SLAVE is followed by pool_session, which puts the master's address on `pool`."""
    try:
        with pool_session(pool) as xapi:
            progress_note("Reading the pool's record from its master")
            records = xapi.pool.get_all_records()
    except PoolRefused as exc:
        raise ConsoleError(exc.message, detail={"field": "password"}) from None
    except PoolUnreachable as exc:
        raise ConsoleError(
            f"{exc.message} Check the address (the master's, or any member's) and that "
            "this console reaches its port 443.",
            detail={"field": "master_address"},
        ) from None
    except XapiError as exc:
        raise ConsoleError(exc.message, detail={"field": "master_address", **exc.detail}) from None
    (record,) = records.values()
    return str(record["uuid"]), str(record.get("name_label") or "")


def _refuse_a_bad_address(address: str) -> None:
    problem = master_address_problem(address)
    if problem is not None:
        raise ConsoleError(problem, detail={"field": "master_address"}, status_code=400)


def _refuse_a_pool_added_twice(pool_uuid: str, pool: Pool) -> None:
    taken = Pool.objects.filter(uuid=pool_uuid).exclude(pk=pool.pk).first()
    if taken is not None:
        raise ConsoleError(
            f"That master's pool is already in the console as {taken}.",
            detail={"field": "master_address", "pool": taken.pk},
        )


def pool_create(
    *, name: str, master_address: str, username: str, password: str, tls_verify=True, actor
) -> Pool:
    """A pool-admin adds a pool: the console logs in on its master at once, and refuses
    (adding nothing) if it cannot; then the first full read is queued."""
    name, master_address, username = name.strip(), master_address.strip(), username.strip()
    for field, value in (
        ("name", name),
        ("master_address", master_address),
        ("username", username),
    ):
        if not value:
            raise ConsoleError(
                f"A pool needs its {field.replace('_', ' ')}.", detail={"field": field}
            )
    if not password:
        raise ConsoleError("A pool needs the password of its user.", detail={"field": "password"})
    _refuse_a_bad_address(master_address)
    if Pool.objects.filter(name=name).exists():
        raise ConsoleError(f"A pool called {name} already exists.", detail={"field": "name"})
    pool = Pool(
        name=name,
        master_address=master_address,
        username=username,
        password_encrypted=secret_encrypt(password),
        tls_verify=tls_verify,
    )
    typed = pool.master_address
    pool.uuid, _xapi_name = _probe(pool)
    _refuse_a_pool_added_twice(pool.uuid, pool)
    with transaction.atomic():
        try:
            with transaction.atomic():
                pool.save()
        except IntegrityError:
            raise ConsoleError(
                f"A pool called {name} already exists.", detail={"field": "name"}
            ) from None
        audit_record(
            actor=actor,
            action="pool.create",
            target=pool,
            message=f"{pool} at {pool.master_address} as {pool.username}"
            + (
                f" ({typed} is a member; its master answers)"
                if typed != pool.master_address
                else ""
            )
            + ".",
        )
        _sync_soon()
    return pool


def pool_update(
    *,
    pool: Pool,
    actor,
    name: str | None = None,
    master_address: str | None = None,
    username: str | None = None,
    password: str | None = None,
    tls_verify: bool | None = None,
) -> Pool:
    """Edit a pool; new credentials are tried on the master before they are kept. An empty
    password keeps the one on record. The connection starts afresh (a refused pool is
    tried again)."""
    pool = Pool.objects.get(pk=pool.pk)
    changed = []
    for field, value in (
        ("name", name),
        ("master_address", master_address),
        ("username", username),
    ):
        if value is not None and value.strip() and value.strip() != getattr(pool, field):
            setattr(pool, field, value.strip())
            changed.append(field)
    if tls_verify is not None and tls_verify != pool.tls_verify:
        pool.tls_verify = tls_verify
        changed.append("tls_verify")
    if password:
        pool.password_encrypted = secret_encrypt(password)
        changed.append("password")
    if not changed:
        return pool
    if "master_address" in changed:
        _refuse_a_bad_address(pool.master_address)
    if set(changed) - {"name"}:
        pool_uuid, _xapi_name = _probe(pool)
        if pool.uuid is not None and str(pool.uuid) != pool_uuid:
            raise ConsoleError(
                f"That master leads another pool ({pool_uuid}), not {pool} ({pool.uuid}): "
                "add it as a pool of its own.",
                detail={"field": "master_address"},
            )
        pool.uuid = pool_uuid
    if "name" in changed and Pool.objects.filter(name=pool.name).exclude(pk=pool.pk).exists():
        raise ConsoleError(f"A pool called {pool.name} already exists.", detail={"field": "name"})
    with transaction.atomic():
        pool.state, pool.error, pool.failures, pool.retry_at = PoolState.CONNECTING, "", 0, None
        pool.save()
        alert_clear(name=AlertName.POOL_CONNECTION_LOST, target=pool)
        # Which fields changed, never their values where they are secret.
        audit_record(actor=actor, action="pool.update", target=pool, message=", ".join(changed))
        _sync_soon()
    return pool


@transaction.atomic
def pool_destroy(*, pool: Pool, actor) -> None:
    """Remove a pool and forget its hosts; refused while it has clusters (their hosts
    run O2CB: remove the clusters first, through maintenance)."""
    pool = Pool.objects.select_for_update().get(pk=pool.pk)
    clusters = list(pool.clusters.order_by("name").values_list("name", flat=True))
    if clusters:
        audit_record(
            actor=actor, action="pool.destroy", target=pool, outcome=AuditOutcome.DENIED,
            message=f"it still has clusters: {', '.join(clusters)}",
        )  # fmt: skip
        raise ConsoleError(
            f"{pool} still has its clusters {', '.join(clusters)}: their hosts run O2CB from "
            "this console. Take their hosts out (maintenance, then remove) and remove the "
            "clusters first.",
            detail={"clusters": clusters},
            status_code=409,
        )
    name = pool.name
    for host in pool.hosts.all():
        alerts_clear_about(target=host)
        host.delete()
    alerts_clear_about(target=pool)
    audit_record(actor=actor, action="pool.destroy", target=pool, message=f"{name} removed")
    # Its cached session is logged out once the removal commits (delete() clears pk).
    forgotten = Pool(pk=pool.pk, tls_verify=pool.tls_verify)
    pool.delete()
    transaction.on_commit(lambda: pool_session_forget(forgotten))


def _sync_soon() -> None:
    transaction.on_commit(lambda: pools_sync_due())


# Keeping current ------------------------------------------------------------------------


def pools_sync_due() -> list[int]:
    """Beat's round: ask for a sync of every pool that is due (not refused, not waiting
    out a backoff). A message that waits longer than one interval expires: never a pile."""
    now = timezone.now()
    due = list(
        Pool.objects.exclude(state=PoolState.REFUSED)
        .exclude(retry_at__gt=now)
        .values_list("pk", flat=True)
    )
    for pk in due:
        current_app.send_task(
            SYNC_TASK, args=[pk], queue=settings.ROUNDS_QUEUE, expires=settings.POOL_SYNC_INTERVAL
        )
    return due


def _lock_key(pk: int) -> str:
    return f"pool-sync-{pk}"


# Longer than a sync holds a batch of events between reading and applying it.
EJECTED_FOR_S = 3600


def _ejected_key(pool_id: int, ref: str) -> str:
    return f"pool-ejected-{pool_id}-{ref}"


def pool_host_ejected(*, pool: Pool, ref: str) -> None:
    """The console ejected the host `ref`: records of it a sync read before the ejection
    (a batch in flight, a full read) must not bring it back. A host that joins the pool
    again has a new ref, and is taken as any joining host."""
    cache.set(_ejected_key(pool.pk, ref), True, timeout=EJECTED_FOR_S)


def pool_sync(*, pool_id: int, event_timeout: float | None = None) -> bool:
    """One step of keeping a pool current: log in, read everything if there is no token,
    then one event.from (waiting up to `event_timeout`). One at a time per pool (a lock in
    Redis that expires by itself, so a killed worker holds nothing). False: another
    worker holds the pool, or it is not due."""
    event_timeout = settings.POOL_EVENT_TIMEOUT if event_timeout is None else event_timeout
    lock_for = settings.XAPI_TIMEOUT * 2 + event_timeout
    if not cache.add(_lock_key(pool_id), "held", timeout=lock_for):
        return False
    try:
        pool = Pool.objects.filter(pk=pool_id).first()
        if pool is None or pool.state == PoolState.REFUSED:
            return False
        if pool.retry_at is not None and pool.retry_at > timezone.now():
            return False
        _sync(pool, event_timeout)
        return True
    finally:
        cache.delete(_lock_key(pool_id))


def _sync(pool: Pool, event_timeout: float) -> None:
    address = pool.master_address
    try:
        with pool_session(pool) as xapi:
            if pool.master_address != address:
                _master_changed(pool, address)  # HOST_IS_SLAVE named it at the log-in
            token = pool.event_token or _full_read(pool, xapi)
            try:
                batch = getattr(xapi.event, "from")(CLASSES, token, float(event_timeout))
            except Exception as exc:  # XenAPI.Failure: the token is no longer good
                code = str(getattr(exc, "details", [""])[0])
                if code not in RESYNC_CODES:
                    raise
                logger.info("Pool %s: %s, reading everything again", pool, code)
                batch = getattr(xapi.event, "from")(CLASSES, _full_read(pool, xapi), 0.0)
            with transaction.atomic():
                _apply_events(pool, xapi, batch["events"])
                _connected(pool, batch["token"], bool(batch["events"]))
    except PoolRefused as exc:
        _failed(pool, exc.message, refused=True)
    except (PoolUnreachable, XapiError) as exc:
        _failed(pool, exc.message, refused=False)


def _connected(pool: Pool, token: str, evented: bool) -> None:
    fields = {"event_token": token, "state": PoolState.CONNECTED, "error": "", "failures": 0}
    fields["retry_at"] = None
    if evented:
        fields["last_event"] = timezone.now()
    if pool.state != PoolState.CONNECTED:
        audit_record(actor=None, action="pool.connected", target=pool, message=pool.master_address)
    Pool.objects.filter(pk=pool.pk).update(**fields)
    alert_clear(name=AlertName.POOL_CONNECTION_LOST, target=pool)


def _failed(pool: Pool, message: str, *, refused: bool) -> None:
    """A lost master is tried again after a backoff that doubles, up to a cap; refused
    credentials are not tried again until a pool-admin edits them."""
    failures = pool.failures + 1
    backoff = min(
        settings.POOL_RETRY_BACKOFF * 2 ** (failures - 1), settings.POOL_RETRY_BACKOFF_MAX
    )
    state = PoolState.REFUSED if refused else PoolState.LOST
    retry_at = None if refused else timezone.now() + timedelta(seconds=backoff)
    Pool.objects.filter(pk=pool.pk).update(
        state=state, error=message, failures=failures, retry_at=retry_at
    )
    if pool.state != state:
        audit_record(
            actor=None, action="pool.lost" if not refused else "pool.refused",
            target=pool, outcome=AuditOutcome.FAILURE, message=message,
        )  # fmt: skip
    then = "edit its credentials on its page" if refused else f"tried again in {backoff:.0f} s"
    alert_raise(
        name=AlertName.POOL_CONNECTION_LOST,
        target=pool,
        message=f"{message} The console no longer follows pool {pool}; {then}.",
    )


def _master_changed(pool: Pool, previous: str) -> None:
    """Recorded; and everything is read again from the new master (its token is its own)."""
    pool.event_token = ""
    Pool.objects.filter(pk=pool.pk).update(event_token="")
    audit_record(
        actor=None,
        action="pool.master",
        target=pool,
        message=f"The master of {pool} is now {pool.master_address} (was {previous}).",
    )


def _full_read(pool: Pool, xapi) -> str:
    """Every record, after taking the token that follows them (nothing is missed)."""
    (pool_ref,) = xapi.pool.get_all()
    token = xapi.event.inject("pool", pool_ref)
    records = {cls: getattr(xapi, cls).get_all_records() for cls in CLASSES}
    with transaction.atomic():
        _apply_pool(pool, xapi, records["pool"][pool_ref])
        seen = {ref: _host_seen(pool, ref, r) for ref, r in records["host"].items()}
        for host in pool.hosts.exclude(xapi_ref__in=list(records["host"])):
            _host_left(pool, host)
        for record in records["VM"].values():
            _vm_seen(pool, record)
        srs: dict = {}
        for ref, record in records["SR"].items():
            srs[ref] = _sr_entry(record, {})
        Pool.objects.filter(pk=pool.pk).update(srs=srs)
        pool.srs = srs
        for ref, record in records["PBD"].items():
            _pbd_seen(pool, ref, record)
        for host_ref in {r["host"] for r in records["host_crashdump"].values()}:
            # The collector takes the dumps the console lacks; a restart of the console's
            # view finds any that came while it was away.
            if seen.get(host_ref) is not None:
                _collect_dumps(seen[host_ref])
        Pool.objects.filter(pk=pool.pk).update(event_token=token)
    return token


def _apply_events(pool: Pool, xapi, events: list[dict]) -> None:
    for event in events:
        cls, operation, ref = event["class"], event["operation"], event["ref"]
        snapshot = event.get("snapshot")
        if cls == "host":
            if operation == "del":
                host = pool.hosts.filter(xapi_ref=ref).first()
                if host is not None:
                    _host_left(pool, host)
            else:
                _host_seen(pool, ref, snapshot)
        elif cls == "vm":
            if operation == "del":
                _vms_reread(pool, xapi)
            else:
                _vm_seen(pool, snapshot)
        elif cls == "sr":
            srs = dict(pool.srs)
            if operation == "del":
                srs.pop(ref, None)
            else:
                srs[ref] = _sr_entry(snapshot, srs.get(ref, {}).get("pbds", {}))
            Pool.objects.filter(pk=pool.pk).update(srs=srs)
            pool.srs = srs
        elif cls == "pbd":
            if operation == "del":
                _pbd_gone(pool, ref)
            else:
                _pbd_seen(pool, ref, snapshot)
        elif cls == "host_crashdump" and operation == "add":
            host = pool.hosts.filter(xapi_ref=snapshot["host"]).first()
            if host is not None:
                _collect_dumps(host)
        elif cls == "pool" and operation == "mod":
            _apply_pool(pool, xapi, snapshot)


def _apply_pool(pool: Pool, xapi, record: dict) -> None:
    """The pool's record names its master: a new one (HA, designate_new_master) is where
    the console logs in from now on."""
    master_ref = record.get("master")
    if not master_ref or master_ref == "OpaqueRef:NULL":
        return
    # XAPI's management address of the new master (its O2CB address, which the agent
    # reports, may be on another network); the session follows the master to ask.
    address = str(xapi.host.get_address(master_ref))
    if address and address != pool.master_address:
        previous, pool.master_address = pool.master_address, address
        Pool.objects.filter(pk=pool.pk).update(master_address=address)
        _master_changed(pool, previous)


def _host_seen(pool: Pool, ref: str, record: dict) -> Host | None:
    """A pool member: XAPI authenticated it when it joined, so the console accepts it and
    it goes through Pool.join (the auto-join cluster of its pool, the join workflow)."""
    hostname = str(record.get("hostname") or record.get("name_label") or "").strip()
    fields = {
        "pool": pool,
        "xapi_ref": ref,
        "enabled": bool(record.get("enabled", True)),
        "addresses": [str(record["address"])] if record.get("address") else [],
    }
    host = Host.objects.select_for_update().filter(uuid=record["uuid"]).first()
    if host is not None:
        if host.registration == HostRegistration.ACCEPTED and host.addresses:
            fields.pop("addresses")  # O2CB holds them; changed only in maintenance
        for name, value in fields.items():
            setattr(host, name, value)
        host.save(update_fields=list(fields))
        if host.registration != HostRegistration.ACCEPTED:
            _accept(pool, host)
        return host
    if cache.get(_ejected_key(pool.pk, ref)):
        return None  # read before the console ejected it
    problem = node_name_problem(hostname) or (
        f"{hostname} is already the name of another host"
        if Host.objects.filter(hostname=hostname).exclude(uuid=record["uuid"]).exists()
        else ""
    )
    if problem:
        alert_raise(
            name=AlertName.HOST_NAME_INVALID,
            target=pool,
            message=f"Pool {pool}'s host {record['uuid']} has a name the console refuses: "
            f"{problem}. Rename it in XAPI (xe host-param-set) and it is taken.",
        )
        return None
    try:
        with transaction.atomic():
            host = Host.objects.create(uuid=record["uuid"], hostname=hostname, **fields)
    except IntegrityError:  # its own agent registered it meanwhile: that row is taken over
        return _host_seen(pool, ref, record)
    audit_record(
        actor=None,
        action="host.register",
        target=host,
        message=f"A member of pool {pool}, read from its master.",
    )
    _accept(pool, host)
    return host


def _accept(pool: Pool, host: Host) -> None:
    Host.objects.filter(pk=host.pk).update(registration=HostRegistration.ACCEPTED)
    host.registration = HostRegistration.ACCEPTED
    audit_record(
        actor=None,
        action="host.accept",
        target=host,
        message=f"XAPI authenticated it as a member of pool {pool}.",
    )
    alert_clear(name=AlertName.HOST_WAITING_FOR_ACCEPTANCE, target=host)
    pool_join(host=host, actor=None)


def _host_left(pool: Pool, host: Host) -> None:
    """Pool.eject: XAPI ejected or destroyed the host, and its PBDs with it; it leaves its
    clusters (its node number stays held until the others restart) and is forgotten."""
    PBD.objects.filter(host=host).delete()
    ClusterHostStatus.objects.filter(host=host).delete()  # it runs no node of ours now
    memberships = list(Membership.objects.filter(host=host, left__isnull=True))
    for membership in memberships:
        membership_destroy(membership=membership, actor=None)
    audit_record(
        actor=None,
        action="host.remove",
        target=host,
        message=f"It left pool {pool} (ejected or destroyed in XAPI)"
        + (f"; it left {', '.join(m.cluster.name for m in memberships)}" if memberships else "")
        + ".",
    )
    alerts_clear_about(target=host)
    host.delete()


_POWER = {
    "Running": PowerState.RUNNING,
    "Halted": PowerState.HALTED,
    "Paused": PowerState.PAUSED,
    "Suspended": PowerState.SUSPENDED,
}


def _vm_seen(pool: Pool, record: dict) -> None:
    if (
        record.get("is_control_domain")
        or record.get("is_a_template")
        or record.get("is_a_snapshot")
    ):
        return
    resident = record.get("resident_on")
    host = pool.hosts.filter(xapi_ref=resident).first() if resident else None
    VM.objects.update_or_create(
        uuid=record["uuid"],
        defaults={
            "name": str(record.get("name_label") or record["uuid"])[:200],
            "resident_on": host,
            "power_state": _POWER.get(record.get("power_state"), PowerState.HALTED),
            "memory": int(record.get("memory_static_max") or 0),
        },
    )


def _vms_reread(pool: Pool, xapi) -> None:
    """A VM went: a del event carries no snapshot, so read which of the pool's remain."""
    records = xapi.VM.get_all_records().values()
    VM.objects.filter(resident_on__pool=pool).exclude(
        uuid__in=[r["uuid"] for r in records]
    ).delete()


def _sr_entry(record: dict, pbds: dict) -> dict:
    return {
        "uuid": record["uuid"],
        "name": record.get("name_label", ""),
        "type": record.get("type", ""),
        "shared": bool(record.get("shared")),
        "pbds": pbds,
    }


def _pbd_seen(pool: Pool, ref: str, record: dict) -> None:
    srs = dict(pool.srs)
    entry = srs.get(record["SR"])
    if entry is not None:
        entry["pbds"][ref] = {
            "host": record["host"],
            "attached": bool(record["currently_attached"]),
        }
        Pool.objects.filter(pk=pool.pk).update(srs=srs)
        pool.srs = srs
    sr = SR.objects.filter(uuid=entry["uuid"]).first() if entry else None
    host = pool.hosts.filter(xapi_ref=record["host"]).first()
    if sr is not None and host is not None:
        # Only the SRs the console knows (its OCFS2 SRs) have PBD rows of their own.
        PBD.objects.update_or_create(
            host=host, sr=sr, defaults={"plugged": bool(record["currently_attached"])}
        )


def _pbd_gone(pool: Pool, ref: str) -> None:
    srs = dict(pool.srs)
    for entry in srs.values():
        gone = entry["pbds"].pop(ref, None)
        if gone is None:
            continue
        host = pool.hosts.filter(xapi_ref=gone["host"]).first()
        if host is not None:
            PBD.objects.filter(host=host, sr__uuid=entry["uuid"]).update(plugged=False)
    Pool.objects.filter(pk=pool.pk).update(srs=srs)
    pool.srs = srs


def _collect_dumps(host: Host) -> None:
    transaction.on_commit(
        lambda: current_app.send_task(
            COLLECT_DUMPS_TASK, args=[host.pk], queue=settings.CONSOLE_QUEUE, ignore_result=True
        )
    )
