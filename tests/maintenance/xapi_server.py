"""A small pool master for tests: XenAPI's XML-RPC wire format over real HTTP.

Sessions, {"Status": "Success", "Value": ...} results and {"Status": "Failure",
"ErrorDescription": [...]} failures, as xapi answers; just the calls maintenance uses.
"""

from __future__ import annotations

import threading
import uuid
from xmlrpc.server import SimpleXMLRPCRequestHandler, SimpleXMLRPCServer


class XapiFailure(Exception):
    def __init__(self, *description):
        super().__init__(description)
        self.description = [str(d) for d in description]


class FakePool:
    def __init__(self, username="root", password="secret"):  # noqa: S107 - test credentials
        self.username, self.password = username, password
        self.sessions: set[str] = set()
        self.hosts: dict[str, dict] = {}
        self.vms: dict[str, dict] = {}
        self.pbds: dict[str, dict] = {}
        self.calls: list[str] = []

    def add_host(self, host_uuid: str) -> str:
        ref = f"OpaqueRef:host-{len(self.hosts)}"
        self.hosts[ref] = {"uuid": host_uuid, "enabled": True}
        self.add_vm(ref, f"Control domain on {host_uuid}", control=True)
        return ref

    def add_vm(self, host_ref, name, *, control=False, stuck=False, running=True) -> str:
        ref = f"OpaqueRef:vm-{len(self.vms)}"
        self.vms[ref] = {
            "uuid": str(uuid.uuid4()),
            "name_label": name,
            "resident_on": host_ref,
            "is_control_domain": control,
            "power_state": "Running" if running else "Halted",
            "stuck": stuck,
        }
        return ref

    def add_pbd(self, pbd_uuid: str, attached: bool) -> str:
        ref = f"OpaqueRef:pbd-{len(self.pbds)}"
        self.pbds[ref] = {"uuid": pbd_uuid, "currently_attached": attached}
        return ref

    # Dispatch --------------------------------------------------------------------------

    def dispatch(self, method: str, params: tuple):
        self.calls.append(method)
        try:
            if method == "session.login_with_password":
                if params[:2] != (self.username, self.password):
                    raise XapiFailure(
                        "SESSION_AUTHENTICATION_FAILED", params[0], "Authentication failure"
                    )
                session = f"OpaqueRef:session-{uuid.uuid4()}"
                self.sessions.add(session)
                return {"Status": "Success", "Value": session}
            session, *args = params
            if session not in self.sessions:
                raise XapiFailure("SESSION_INVALID", session)
            handler = getattr(self, "api_" + method.replace(".", "_"), None)
            if handler is None:
                raise XapiFailure("MESSAGE_METHOD_UNKNOWN", method)
            value = handler(session, *args)
            return {"Status": "Success", "Value": "" if value is None else value}
        except XapiFailure as failure:
            return {"Status": "Failure", "ErrorDescription": failure.description}

    def _lookup(self, table: dict, kind: str, key: str) -> str:
        for ref, record in table.items():
            if record["uuid"] == key:
                return ref
        raise XapiFailure("UUID_INVALID", kind, key)

    def _ref(self, table: dict, kind: str, ref: str) -> dict:
        if ref not in table:
            raise XapiFailure("HANDLE_INVALID", kind, ref)
        return table[ref]

    def api_session_logout(self, session):
        self.sessions.discard(session)

    def api_host_get_by_uuid(self, _s, host_uuid):
        return self._lookup(self.hosts, "host", host_uuid)

    def api_host_disable(self, _s, ref):
        self._ref(self.hosts, "host", ref)["enabled"] = False

    def api_host_enable(self, _s, ref):
        self._ref(self.hosts, "host", ref)["enabled"] = True

    def api_host_get_resident_VMs(self, _s, ref):  # noqa: N802 - XenAPI's name
        self._ref(self.hosts, "host", ref)
        return [r for r, vm in self.vms.items() if vm["resident_on"] == ref]

    def api_VM_get_record(self, _s, ref):  # noqa: N802
        record = dict(self._ref(self.vms, "VM", ref))
        record.pop("stuck")
        return record

    def api_VM_get_uuid(self, _s, ref):  # noqa: N802
        return self._ref(self.vms, "VM", ref)["uuid"]

    def api_VM_get_name_label(self, _s, ref):  # noqa: N802
        return self._ref(self.vms, "VM", ref)["name_label"]

    def _blockers(self, ref):
        return {
            vm_ref: ["VM_REQUIRES_SR", vm_ref, "OpaqueRef:sr-local"]
            for vm_ref, vm in self.vms.items()
            if vm["resident_on"] == ref and vm["stuck"] and vm["power_state"] == "Running"
        }

    def api_host_get_vms_which_prevent_evacuation(self, _s, ref):
        self._ref(self.hosts, "host", ref)
        return self._blockers(ref)

    def api_host_evacuate(self, _s, ref):
        self._ref(self.hosts, "host", ref)
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
            self.vms[vm_ref]["resident_on"] = others[index % len(others)]

    def api_host_reboot(self, _s, ref):
        host = self._ref(self.hosts, "host", ref)
        if host["enabled"]:
            raise XapiFailure("HOST_NOT_DISABLED")
        host["reboots"] = host.get("reboots", 0) + 1

    def api_PBD_get_by_uuid(self, _s, pbd_uuid):  # noqa: N802
        return self._lookup(self.pbds, "PBD", pbd_uuid)

    def api_PBD_get_currently_attached(self, _s, ref):  # noqa: N802
        return self._ref(self.pbds, "PBD", ref)["currently_attached"]

    def api_PBD_plug(self, _s, ref):  # noqa: N802
        self._ref(self.pbds, "PBD", ref)["currently_attached"] = True

    def api_PBD_unplug(self, _s, ref):  # noqa: N802
        self._ref(self.pbds, "PBD", ref)["currently_attached"] = False


class _Quiet(SimpleXMLRPCRequestHandler):
    rpc_paths = ("/", "/RPC2")

    def log_message(self, *args):
        pass


class _Server(SimpleXMLRPCServer):
    def __init__(self, pool: FakePool):
        super().__init__(
            ("127.0.0.1", 0), requestHandler=_Quiet, allow_none=True, logRequests=False
        )
        self.pool = pool

    def _dispatch(self, method, params):
        return self.pool.dispatch(method, params)


def serve(pool: FakePool):
    """Start the server in a thread; returns (url, stop)."""
    server = _Server(pool)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def stop():
        server.shutdown()
        server.server_close()

    return f"http://127.0.0.1:{server.server_address[1]}/", stop
