"""A stand-in pool master for tests: XenAPI's XML-RPC wire protocol over real HTTP.

What it follows from xapi's own sources (github:xapi-project/xen-api):

- Results are {"Status": "Success", "Value": ...}, failures {"Status": "Failure",
  "ErrorDescription": [code, ...]} with the codes of ocaml/xapi-consts/api_errors.ml:
  SESSION_AUTHENTICATION_FAILED [user, reason], SESSION_INVALID [session] (an expired or
  unknown session; xapi forgets every session when it restarts), HOST_IS_SLAVE [master
  address] for a log-in on a pool member that is not the master, HANDLE_INVALID [class,
  ref], UUID_INVALID [class, uuid], MESSAGE_METHOD_UNKNOWN [method],
  MESSAGE_PARAMETER_COUNT_MISMATCH [method, expected, received], XENAPI_MISSING_PLUGIN
  [plugin], EVENT_FROM_TOKEN_PARSE_FAILURE [token], EVENT_SUBSCRIPTION_PARSE_FAILURE [class].
- Values as xapi puts them on XML-RPC: an int64 field is a string ("4294967296"), a
  datetime an XML-RPC dateTime, a Set(Ref) an array, a Map a struct.
- `event.from(classes, token, timeout)` as ocaml/xapi/xapi_event.ml: every change bumps
  the database's generation; each object keeps the generation it was created and last
  modified at, a deleted one when it was deleted. The token is "%020d,%020d" (the last
  generation seen, the message generation); "" is generation 0, so the first call
  returns every current object as `add`. Objects created after the token are `add`,
  modified `mod`, deleted `del` (no snapshot), one event per object; an object created
  and deleted since is not mentioned. With nothing new the call blocks until something
  is or `timeout` seconds pass, then answers no events and the same token.
  `valid_ref_counts` counts every table's rows. `event.inject(class, ref)` touches a row
  and answers the token just before it (Xen Orchestra takes its first token that way,
  before reading every record, so nothing is missed in between). EVENTS_LOST belongs to
  the older event.next, not to event.from.
- A one-to-many field (host.resident_VMs, host.PBDs, host.crashdumps, SR.PBDs) is read
  from the other side, and a change of the other side's reference is a `mod` of both
  objects it names, as xapi's database does.

Several HTTP servers can serve one pool (`serve_host`), one per host, each answering
as that host: the master logs in, the others answer HOST_IS_SLAVE with the master's
address. A served host's address is its server's URL (every server listens on
127.0.0.1), so the console reaches it as it would a real address.
`designate_new_master`, `join`, `eject`, `vm_move`, `add_crashdump` change the pool
as xapi would and emit the same events. `plugin_runner`, a callable (host record,
plugin, fn, args) -> str, answers host.call_plugin; None answers XENAPI_MISSING_PLUGIN.
"""

from __future__ import annotations

import datetime
import inspect
import itertools
import socketserver
import threading
import uuid
from collections.abc import Callable
from xmlrpc.client import DateTime
from xmlrpc.server import SimpleXMLRPCRequestHandler, SimpleXMLRPCServer


class XapiFailure(Exception):
    def __init__(self, *description):
        super().__init__(description)
        self.description = [str(d) for d in description]


CLASSES = ("pool", "host", "host_metrics", "VM", "SR", "PBD", "host_crashdump")

# One-to-many fields: (class, field) -> (the other class, its reference field).
_SETS = {
    ("host", "resident_VMs"): ("VM", "resident_on"),
    ("host", "PBDs"): ("PBD", "host"),
    ("host", "crashdumps"): ("host_crashdump", "host"),
    ("SR", "PBDs"): ("PBD", "SR"),
}
# Fields the stand-in keeps for itself and never sends.
_PRIVATE = {"stuck", "reboots"}
NULL_REF = "OpaqueRef:NULL"


def _now() -> DateTime:
    return DateTime(datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H:%M:%SZ"))


def token_of(generation: int) -> str:
    return f"{generation:020d},{0:020d}"


class FakePool:
    """The pool's database (one for every host, as xapi replicates it) and its API."""

    def __init__(self, username="root", password="secret", *, name_label="pool"):  # noqa: S107 - test credentials
        self.username, self.password = username, password
        self.sessions: set[str] = set()
        self.calls: list[str] = []
        self.plugin_runner: Callable[[dict, str, str, dict], str] | None = None
        self.db: dict[str, dict[str, dict]] = {cls: {} for cls in CLASSES}
        self.hosts, self.vms, self.pbds = self.db["host"], self.db["VM"], self.db["PBD"]
        self.srs, self.crashdumps = self.db["SR"], self.db["host_crashdump"]
        self.generation = 0
        self._stats: dict[str, list[int]] = {}  # ref -> [created, modified]
        self._deleted: list[tuple[str, str, int, int]] = []  # (class, ref, created, deleted)
        self._numbers = itertools.count()
        self._changed = threading.Condition(threading.RLock())
        self._servers: dict[str, tuple[object, Callable[[], None]]] = {}  # host ref -> server
        self.ejected: dict[str, dict] = {}  # uuid -> the record of a host pool.eject took
        self.pool_ref = self._create("pool", uuid=str(uuid.uuid4()), name_label=name_label)
        self.db["pool"][self.pool_ref].update(master=NULL_REF)

    # The database: every change bumps the generation and wakes event.from ---------------

    def _new_ref(self, cls: str) -> str:
        return f"OpaqueRef:{cls.lower()}-{next(self._numbers)}"

    def _bump(self) -> int:
        self.generation += 1
        return self.generation

    def _create(self, cls: str, **record) -> str:
        with self._changed:
            ref = self._new_ref(cls)
            record.setdefault("uuid", str(uuid.uuid4()))
            self.db[cls][ref] = record
            generation = self._bump()
            self._stats[ref] = [generation, generation]
            for field, value in record.items():
                self._touch_referent(cls, field, value, generation)
            self._changed.notify_all()
            return ref

    def _touch_referent(self, cls: str, field: str, value, generation: int) -> None:
        """A reference on the many side changes the one side's set: a mod of it too."""
        for (one, _set_field), (many, ref_field) in _SETS.items():
            if many == cls and ref_field == field and value in self.db[one]:
                self._stats[value][1] = generation

    def set(self, cls: str, ref: str, **fields) -> None:
        """Change fields of a row, as an API call would: one `mod` event (and one of
        each row a changed reference leaves or names)."""
        with self._changed:
            record = self._row(cls, ref)
            generation = self._bump()
            for field, value in fields.items():
                self._touch_referent(cls, field, record.get(field), generation)
                record[field] = value
                self._touch_referent(cls, field, value, generation)
            self._stats[ref][1] = generation
            self._changed.notify_all()

    def destroy(self, cls: str, ref: str) -> None:
        with self._changed:
            record = self.db[cls].pop(ref)
            generation = self._bump()
            for field, value in record.items():
                self._touch_referent(cls, field, value, generation)
            created, _modified = self._stats.pop(ref)
            self._deleted.append((cls, ref, created, generation))
            self._changed.notify_all()

    def _row(self, cls: str, ref: str) -> dict:
        if ref not in self.db[cls]:
            raise XapiFailure("HANDLE_INVALID", cls, ref)
        return self.db[cls][ref]

    def _ref(self, table: dict, kind: str, ref: str) -> dict:  # the older name, kept
        if ref not in table:
            raise XapiFailure("HANDLE_INVALID", kind, ref)
        return table[ref]

    def snapshot(self, cls: str, ref: str) -> dict:
        """A row as get_record sends it: its sets read from the other side."""
        record = {k: v for k, v in self._row(cls, ref).items() if k not in _PRIVATE}
        for (one, set_field), (many, ref_field) in _SETS.items():
            if one == cls:
                record[set_field] = [
                    r for r, row in self.db[many].items() if row.get(ref_field) == ref
                ]
        return record

    # Building a pool ----------------------------------------------------------------------

    @property
    def master_ref(self) -> str:
        return self.db["pool"][self.pool_ref]["master"]

    def add_host(
        self, host_uuid: str | None = None, *, name_label=None, address=None, memory=None
    ) -> str:
        """A host in the pool, with its metrics and control domain; the first is the master."""
        number = len(self.hosts) + 1
        metrics = self._create(
            "host_metrics",
            live=True,
            memory_total=str(memory or 64 * 2**30),
            memory_free=str((memory or 64 * 2**30) // 2),
            last_updated=_now(),
        )
        ref = self._create(
            "host",
            uuid=host_uuid or str(uuid.uuid4()),
            name_label=name_label or f"xs-{number:02d}",
            name_description="",
            hostname=name_label or f"xs-{number:02d}",
            address=address or f"192.0.2.{number}",
            enabled=True,
            metrics=metrics,
            API_version_major="2",
            API_version_minor="21",
        )
        self.add_vm(ref, f"Control domain on host: {self.hosts[ref]['name_label']}", control=True)
        if self.master_ref == NULL_REF:
            self.set("pool", self.pool_ref, master=ref)
        return ref

    join = add_host  # a host that joins the pool (`xe pool-join` on it)

    def eject(self, host_ref: str) -> None:
        """pool.eject as xapi_pool.ml's: refused for the master (an OCaml exception, so
        INTERNAL_ERROR on the wire) and while a VM runs there; otherwise the host's rows
        go (its control domain, PBDs, crash dumps, metrics: `del` events) and it
        restarts as a pool of its own (`ejected` keeps its record, uuid -> record)."""
        host = self._row("host", host_ref)
        if host_ref == self.master_ref:
            raise XapiFailure("INTERNAL_ERROR", "Xapi_pool.Cannot_eject_master")
        for vm in self.vms.values():
            if (
                vm["resident_on"] == host_ref
                and not vm["is_control_domain"]
                and vm["power_state"] != "Halted"
            ):
                raise XapiFailure("OPERATION_NOT_ALLOWED", "VM resident on host")
        with self._changed:
            for cls, field in (("VM", "resident_on"), ("PBD", "host"), ("host_crashdump", "host")):
                for ref in [r for r, row in self.db[cls].items() if row.get(field) == host_ref]:
                    self.destroy(cls, ref)
            self.destroy("host", host_ref)
            self.destroy("host_metrics", host["metrics"])
            self.ejected[host["uuid"]] = {**host, "reboots": host.get("reboots", 0) + 1}
        self.stop_host_server(host_ref)

    def designate_new_master(self, host_ref: str) -> None:
        """pool.designate_new_master: xapi restarts on both hosts, so every session ends."""
        self._row("host", host_ref)
        with self._changed:
            self.sessions.clear()
            self.set("pool", self.pool_ref, master=host_ref)

    def add_vm(
        self, host_ref, name, *, control=False, stuck=False, running=True, memory=None
    ) -> str:
        return self._create(
            "VM",
            name_label=name,
            resident_on=host_ref if running or control else NULL_REF,
            is_control_domain=control,
            is_a_template=False,
            is_a_snapshot=False,
            power_state="Running" if running or control else "Halted",
            memory_static_max=str(memory or (2**30 if control else 4 * 2**30)),
            stuck=stuck,
        )

    def vm_move(self, vm_ref: str, host_ref: str) -> None:
        """VM.pool_migrate: it runs on another host."""
        self._row("host", host_ref)
        self.set("VM", vm_ref, resident_on=host_ref, power_state="Running")

    def add_sr(self, name: str, *, type="lvmoiscsi", shared=True, hosts=None, attached=True) -> str:  # noqa: A002 - XenAPI's field
        ref = self._create(
            "SR", name_label=name, name_description="", type=type, shared=shared,
            content_type="", physical_size="0",
        )  # fmt: skip
        for host_ref in self.hosts if hosts is None else hosts:
            self.add_pbd(str(uuid.uuid4()), attached, host=host_ref, sr=ref)
        return ref

    def add_pbd(self, pbd_uuid: str, attached: bool, *, host=NULL_REF, sr=NULL_REF) -> str:
        return self._create(
            "PBD", uuid=pbd_uuid, host=host, SR=sr, currently_attached=attached, device_config={}
        )

    def add_crashdump(self, host_ref: str, *, size: int = 2**20) -> str:
        """A host_crashdump, as xapi records a dump it found after the host restarted."""
        self._row("host", host_ref)
        return self._create(
            "host_crashdump", host=host_ref, timestamp=_now(), size=str(size), other_config={}
        )

    def expire_sessions(self) -> None:
        """Every session ends (xapi restarted, or they timed out): SESSION_INVALID."""
        self.sessions.clear()

    # Dispatch -----------------------------------------------------------------------------

    def dispatch(self, method: str, params: tuple, *, as_host: str | None = None):
        """One call, answered as `as_host` (a host ref), or as the master when None."""
        self.calls.append(method)
        try:
            if method == "session.login_with_password":
                return _success(self._login(params, as_host))
            if not params:
                raise XapiFailure("MESSAGE_PARAMETER_COUNT_MISMATCH", method, 1, 0)
            session, *args = params
            if session not in self.sessions:
                raise XapiFailure("SESSION_INVALID", session)
            handler = getattr(self, "api_" + method.replace(".", "_"), None)
            if handler is None:
                return _success(self._generic(method, args))
            expected = len(inspect.signature(handler).parameters) - 1
            if len(args) != expected:
                raise XapiFailure("MESSAGE_PARAMETER_COUNT_MISMATCH", method, expected, len(args))
            value = handler(session, *args)
            return _success(value)
        except XapiFailure as failure:
            return {"Status": "Failure", "ErrorDescription": failure.description}

    def _login(self, params: tuple, as_host: str | None) -> str:
        if not 2 <= len(params) <= 4:
            raise XapiFailure(
                "MESSAGE_PARAMETER_COUNT_MISMATCH", "session.login_with_password", 4, len(params)
            )
        with self._changed:
            if as_host is not None and as_host != self.master_ref:
                raise XapiFailure("HOST_IS_SLAVE", self.hosts[self.master_ref]["address"])
            if tuple(params[:2]) != (self.username, self.password):
                raise XapiFailure(
                    "SESSION_AUTHENTICATION_FAILED", params[0], "Authentication failure"
                )
            session = f"OpaqueRef:session-{uuid.uuid4()}"
            self.sessions.add(session)
            return session

    def _generic(self, method: str, args: list):
        """CLASS.get_all, get_all_records, get_record, get_by_uuid, get_FIELD."""
        cls, _, call = method.partition(".")
        if cls not in self.db or not call.startswith("get_"):
            raise XapiFailure("MESSAGE_METHOD_UNKNOWN", method)
        with self._changed:
            if call == "get_all":
                return list(self.db[cls])
            if call == "get_all_records":
                return {ref: self.snapshot(cls, ref) for ref in self.db[cls]}
            if len(args) != 1:
                raise XapiFailure("MESSAGE_PARAMETER_COUNT_MISMATCH", method, 1, len(args))
            if call == "get_by_uuid":
                for ref, record in self.db[cls].items():
                    if record["uuid"] == args[0]:
                        return ref
                raise XapiFailure("UUID_INVALID", cls, args[0])
            record = self.snapshot(cls, args[0])
            if call == "get_record":
                return record
            field = call.removeprefix("get_")
            if field not in record:
                raise XapiFailure("MESSAGE_METHOD_UNKNOWN", method)
            return record[field]

    # Sessions and events ------------------------------------------------------------------

    def api_session_logout(self, session):
        self.sessions.discard(session)

    def api_session_get_this_host(self, _s, _session):
        return self.master_ref

    def api_event_inject(self, _s, cls, ref):
        with self._changed:
            if ref not in self.db.get(cls, {}):
                raise XapiFailure("HANDLE_INVALID", cls, ref)
            self.set(cls, ref)
            return token_of(self.generation - 1)

    def api_event_from(self, _s, classes, token, timeout):
        since = _parse_token(token)
        subscriptions = [_subscription(c) for c in classes]
        deadline = threading.TIMEOUT_MAX if timeout is None else float(timeout)
        with self._changed:
            events = self._events_since(since, subscriptions)
            waited = self._changed.wait_for(
                lambda: self._events_since(since, subscriptions), timeout=min(deadline, 3600)
            ) if not events else events  # fmt: skip
            events = waited or []
            last = max([since, *(int(e["id"]) for e in events)])
            counts = {cls.lower(): len(rows) for cls, rows in self.db.items()}
            return {"events": events, "valid_ref_counts": counts, "token": token_of(last)}

    def _events_since(self, since: int, subscriptions: list) -> list[dict]:
        events = []
        for cls, rows in self.db.items():
            for ref in rows:
                created, modified = self._stats[ref]
                if modified <= since or not _matches(subscriptions, cls, ref):
                    continue
                operation = "add" if created > since else "mod"
                event = _event(cls, ref, operation, modified)
                event["snapshot"] = self.snapshot(cls, ref)
                events.append(event)
        for cls, ref, created, deleted in self._deleted:
            if deleted > since and created <= since and _matches(subscriptions, cls, ref):
                events.append(_event(cls, ref, "del", deleted))
        return sorted(events, key=lambda e: int(e["id"]))

    # The pool -----------------------------------------------------------------------------

    def api_pool_designate_new_master(self, _s, host_ref):
        self.designate_new_master(host_ref)

    def api_pool_eject(self, _s, host_ref):
        self.eject(host_ref)

    # Hosts --------------------------------------------------------------------------------

    def api_host_disable(self, _s, ref):
        self._row("host", ref)
        self.set("host", ref, enabled=False)

    def api_host_enable(self, _s, ref):
        self._row("host", ref)
        self.set("host", ref, enabled=True)

    def api_host_call_plugin(self, _s, ref, plugin, fn, args):
        record = self.snapshot("host", ref)
        if self.plugin_runner is None:
            raise XapiFailure("XENAPI_MISSING_PLUGIN", plugin)
        return self.plugin_runner(record, plugin, fn, args)

    def _blockers(self, ref):
        return {
            vm_ref: ["VM_REQUIRES_SR", vm_ref, "OpaqueRef:sr-local"]
            for vm_ref, vm in self.vms.items()
            if vm["resident_on"] == ref and vm["stuck"] and vm["power_state"] == "Running"
        }

    def api_host_get_vms_which_prevent_evacuation(self, _s, ref):
        self._row("host", ref)
        return self._blockers(ref)

    def api_host_evacuate(self, _s, ref):
        self._row("host", ref)
        blockers = self._blockers(ref)
        if blockers:
            raise XapiFailure(*next(iter(blockers.values())))
        others = [r for r, h in self.hosts.items() if r != ref and h["enabled"]]
        if not others:
            raise XapiFailure("NO_HOSTS_AVAILABLE")
        moving = [
            r
            for r, vm in self.vms.items()
            if vm["resident_on"] == ref
            and not vm["is_control_domain"]
            and vm["power_state"] == "Running"
        ]
        for index, vm_ref in enumerate(moving):
            self.vm_move(vm_ref, others[index % len(others)])

    def api_host_reboot(self, _s, ref):
        host = self._row("host", ref)
        if host["enabled"]:
            raise XapiFailure("HOST_NOT_DISABLED")
        host["reboots"] = host.get("reboots", 0) + 1

    # PBDs ---------------------------------------------------------------------------------

    def api_PBD_plug(self, _s, ref):  # noqa: N802 - XenAPI's name
        self._row("PBD", ref)
        self.set("PBD", ref, currently_attached=True)

    def api_PBD_unplug(self, _s, ref):  # noqa: N802
        self._row("PBD", ref)
        self.set("PBD", ref, currently_attached=False)

    # Serving ------------------------------------------------------------------------------

    def serve_host(self, host_ref: str) -> str:
        """An HTTP server answering as this host; the host's address becomes its URL."""
        self._row("host", host_ref)
        url, stop = serve(self, as_host=host_ref)
        self._servers[host_ref] = (url, stop)
        self.set("host", host_ref, address=url)
        return url

    def stop_host_server(self, host_ref: str) -> None:
        """The host stops answering (powered off, network gone)."""
        served = self._servers.pop(host_ref, None)
        if served is not None:
            served[1]()

    def stop_all(self) -> None:
        for host_ref in list(self._servers):
            self.stop_host_server(host_ref)


def _success(value) -> dict:
    return {"Status": "Success", "Value": "" if value is None else value}


def _parse_token(token: str) -> int:
    if token == "":
        return 0
    parts = token.split(",")
    try:
        if len(parts) != 2:
            raise ValueError(token)
        return int(parts[0])
    except ValueError:
        raise XapiFailure("EVENT_FROM_TOKEN_PARSE_FAILURE", token) from None


def _subscription(text: str) -> tuple[str, str | None]:
    """'*', 'class' or 'class/ref', as xapi's Subscription.of_string."""
    if text == "*":
        return ("*", None)
    parts = text.split("/")
    if len(parts) > 2 or not parts[0]:
        raise XapiFailure("EVENT_SUBSCRIPTION_PARSE_FAILURE", text)
    return (parts[0].lower(), parts[1] if len(parts) == 2 else None)


def _matches(subscriptions: list, cls: str, ref: str) -> bool:
    return any(
        name == "*" or (name == cls.lower() and (only is None or only == ref))
        for name, only in subscriptions
    )


def _event(cls: str, ref: str, operation: str, generation: int) -> dict:
    # As xapi_event.ml's event_of: the id is the generation, the timestamp "0.0".
    return {
        "id": str(generation),
        "timestamp": "0.0",
        "class": cls.lower(),
        "operation": operation,
        "ref": ref,
    }


class _Quiet(SimpleXMLRPCRequestHandler):
    rpc_paths = ("/", "/RPC2", "/jsonrpc")

    def log_message(self, *args):
        pass


class _Server(socketserver.ThreadingMixIn, SimpleXMLRPCServer):
    """Many callers at once, as xapi serves them: an event.from that blocks holds up no one."""

    daemon_threads = True

    def __init__(self, pool: FakePool, as_host: str | None = None):
        super().__init__(
            ("127.0.0.1", 0), requestHandler=_Quiet, allow_none=True, logRequests=False
        )
        self.pool, self.as_host = pool, as_host

    def _dispatch(self, method, params):
        return self.pool.dispatch(method, params, as_host=self.as_host)


def serve(pool: FakePool, *, as_host: str | None = None):
    """Start a server in a thread; returns (url, stop). Without `as_host` it answers as
    whichever host is the master."""
    server = _Server(pool, as_host)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def stop():
        server.shutdown()
        server.server_close()

    return f"http://127.0.0.1:{server.server_address[1]}/", stop
