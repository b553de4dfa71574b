"""The agent as a XAPI host plugin: `host.call_plugin(host, "o2cb-agent", call, args)`.

xapi runs a host plugin (/etc/xapi.d/plugins/o2cb-agent, deploy/xapi/o2cb-agent) as a
program of its own for every call, with one argument: an XML-RPC methodCall whose method
is the plugin function and whose params are (session reference, args). The program
prints an XML-RPC methodResponse: `{"Status": "Success", "Value": result}`, or
`{"Status": "Failure", "ErrorDescription": [...]}`, the error a XenAPI client raises.
This is what xapi's own XenAPIPlugin.dispatch does; it is written here with the standard
library, since this runs on dom0's python3 (3.6 on XenServer 8 and XCP-ng 8.3) with
nothing installed beside it (scripts/dom0_python.py checks the whole import closure).

Each function is a call of the contract, its args `{"request": "<JSON of the request's
fields, host_uuid and contract included>"}`, its value the JSON of the contract's
envelope, exactly as the Celery agent answers before it seals (agent/calls.py runs both).
Nothing is sealed: xapi's authenticated TLS session is the trust boundary, and only a
pool admin's session may call a host plugin.
"""

import fcntl
import json
import os
import sys
import time
import xmlrpc.client
from contextlib import ExitStack, contextmanager
from pathlib import Path

from . import calls
from .errors import AgentError
from .hostroot import INVENTORY, HostRoot
from .realkernel import real_root

PLUGIN_NAME = "o2cb-agent"
# Tests only: serve the sandbox host in this directory (or the one of the request's
# host_uuid among the sandbox hosts under it) instead of the real host.
SANDBOX_ROOT_ENV = "O2CB_AGENT_SANDBOX_ROOT"
# One call at a time per host: each call is a process of its own, so the lock is a file.
LOCK_FILE = "run/lock/o2cb-agent.lock"


def success_message(value) -> str:
    return xmlrpc.client.dumps(({"Status": "Success", "Value": value},), "", True)


def failure_message(description: list) -> str:
    return xmlrpc.client.dumps(({"Status": "Failure", "ErrorDescription": description},), "", True)


def host_root(host_uuid) -> HostRoot:
    """The host the request is for: this one (or the sandbox's), refusing any other."""
    sandbox = os.environ.get(SANDBOX_ROOT_ENV)
    if sandbox:
        # Lazily: the sandbox is never installed on a real host.
        from .sandbox.kernel import iter_sandbox_hosts, sandbox_root

        base = Path(sandbox)
        if (base / INVENTORY).exists():
            root = sandbox_root(base)
        else:
            wanted = str(host_uuid).lower()
            root = next((r for r in iter_sandbox_hosts(base) if r.uuid == wanted), None)
            if root is None:
                raise AgentError(f"No sandbox host {host_uuid} under {base}.")
    else:
        root = real_root()
    if str(host_uuid).lower() != root.uuid:
        raise AgentError(f"This is host {root.uuid} ({root.hostname}), not {host_uuid}.")
    if root.kernel.powered_off():  # the sandbox's dark host; xapi reaches no such host
        raise AgentError(f"{root.hostname} is powered off.")
    delay = root.kernel.answer_delay()  # the sandbox's slow host
    if delay > 0:
        time.sleep(delay)
    return root


@contextmanager
def host_lock(root: HostRoot):
    """The host's lock, held by this process until the call is done (flock: released by
    the kernel when the process ends, however it ends)."""
    path = root.path(LOCK_FILE)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(str(path), "a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def call(registered: calls.Registered, args) -> str:
    """The JSON envelope answering one call's args."""
    if not isinstance(args, dict) or not isinstance(args.get("request"), str):
        raise AgentError(f"{registered.call.name} takes one argument, request: the request's JSON.")
    try:
        fields = json.loads(args["request"])
    except ValueError as exc:
        raise AgentError(f"The {registered.call.name} request is no JSON: {exc}.") from None
    if not isinstance(fields, dict):
        raise AgentError(f"The {registered.call.name} request should be a JSON object.")
    root = host_root(fields.get("host_uuid"))
    with ExitStack() as held:
        if calls.needs_lock(registered, root):
            held.enter_context(host_lock(root))
        envelope = calls.run(registered, root, fields)
    return json.dumps(envelope)


def dispatch(argv: list) -> str:
    """The methodResponse for the methodCall in argv[1], as XenAPIPlugin.dispatch makes it."""
    if len(argv) != 2:
        raise Exception("Incorrect number of commandline arguments")
    params, method = xmlrpc.client.loads(argv[1])
    args = params[1]  # params[0] is the session, which the agent does not use
    registered = calls.REGISTRY.get(method)
    if registered is None:
        return failure_message(["UNKNOWN_XENAPI_PLUGIN_FUNCTION", method])
    try:
        return success_message(call(registered, args))
    except Exception as exc:
        return failure_message(["XENAPI_PLUGIN_FAILURE", method, type(exc).__name__, str(exc)])


def main() -> None:
    print(dispatch(sys.argv))
