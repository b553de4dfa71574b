"""The stand-in pool master's host plugins, run as xapi runs them.

xapi runs /etc/xapi.d/plugins/<plugin> as a program of its own for every
`host.call_plugin(host, plugin, fn, args)`: its one argument is the XML-RPC methodCall
`fn(session, args)`, and it prints the methodResponse, `{"Status": "Success", "Value":
...}` or `{"Status": "Failure", "ErrorDescription": [...]}` (XenAPIPlugin.dispatch in
xapi's sources). PluginRunner does the same with this checkout's deploy/xapi/, on the
host's sandbox root: the real plugin file, the real agent code, dom0's way of calling.
"""

from __future__ import annotations

import json
import os
import subprocess
import xmlrpc.client
from pathlib import Path

from agent import contract
from agent.sandbox.kernel import iter_sandbox_hosts

from .master import XapiFailure

ROOT = Path(__file__).resolve().parents[2]
PLUGINS_DIR = ROOT / "deploy" / "xapi"


class PluginRunner:
    """`FakePool.plugin_runner`: (host record, plugin, fn, args) -> the plugin's Value."""

    def __init__(self, sandbox_dir: Path, *, plugins_dir: Path = PLUGINS_DIR, timeout=120.0):
        self.sandbox_dir, self.plugins_dir, self.timeout = sandbox_dir, plugins_dir, timeout
        self.runs: list[tuple[str, str]] = []  # (host uuid, fn), for the tests to look at

    def __call__(self, host_record: dict, plugin: str, fn: str, args: dict) -> str:
        program = self.plugins_dir / plugin
        if not program.is_file():
            raise XapiFailure("XENAPI_MISSING_PLUGIN", plugin)
        root = next(
            (r for r in iter_sandbox_hosts(self.sandbox_dir) if r.uuid == host_record["uuid"]),
            None,
        )
        if root is None or root.kernel.powered_off():
            raise XapiFailure("HOST_OFFLINE", host_record["uuid"])
        self.runs.append((host_record["uuid"], fn))
        request = xmlrpc.client.dumps(("OpaqueRef:plugin-session", args), fn)
        env = dict(os.environ, O2CB_AGENT_CODE=str(ROOT), O2CB_AGENT_SANDBOX_ROOT=str(root.root))
        env.pop("DJANGO_SETTINGS_MODULE", None)
        done = subprocess.run(  # noqa: S603 - this checkout's own plugin
            [str(program), request], capture_output=True, env=env, timeout=self.timeout
        )
        output = done.stdout.decode(errors="replace")
        if done.returncode != 0 or not output.strip():
            # What xapi says of a plugin that exits badly: its output and its error output.
            raise XapiFailure(
                "XENAPI_PLUGIN_FAILURE",
                fn,
                f"non-zero exit ({done.returncode})",
                output[-2000:],
                done.stderr.decode(errors="replace")[-2000:],
            )
        (response,), _method = xmlrpc.client.loads(output)
        if response.get("Status") == "Success":
            return response["Value"]
        raise XapiFailure(*response["ErrorDescription"])


def plugin_request(host_uuid: str, **fields) -> dict:
    """The args of a contract call to the o2cb-agent plugin, as the console sends them."""
    request = {"host_uuid": host_uuid, "contract": contract.CONTRACT_VERSION, **fields}
    return {"request": json.dumps(request)}


def wire_plugins(master, runner: PluginRunner) -> None:
    """Plug `runner` into the stand-in master: its host.call_plugin runs the plugins, and
    its host.reboot reboots the sandbox host (the plugin's sandbox_reboot), as a real
    host comes back with a new boot time."""
    master.plugin_runner = runner
    reboot = master.api_host_reboot

    def reboot_sandbox_host(session, ref):
        reboot(session, ref)
        record = master.snapshot("host", ref)
        runner(record, "o2cb-agent", "sandbox_reboot", plugin_request(record["uuid"]))

    master.api_host_reboot = reboot_sandbox_host
