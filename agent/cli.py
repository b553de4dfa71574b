"""`python -m agent`: the cluster plugin from the command line, printing JSON."""

from __future__ import annotations

import argparse
import json
import logging
import re
import subprocess
import sys
import time
from pathlib import Path

from .errors import AgentError
from .progress import Progress
from .sandbox.faults import FAULTS

# Commands import what they use: `analyse-crash` runs on any machine, and quickly.


# Long: every subcommand's arguments declared in one place, read top to bottom as --help.
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m agent",
        description="Host agent of the O2CB storage console: the o2cb cluster plugin, "
        "cluster.conf tools and the Celery worker that serves the console.",
    )
    parser.add_argument(
        "--root",
        type=Path,
        help="work under this directory instead of / (an empty one becomes a sandbox host "
        "named after it)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    create = sub.add_parser("membership-create", help="add a node to the cluster (online)")
    create.add_argument("--cluster", required=True)
    create.add_argument("--hostname", required=True)
    create.add_argument("--uuid", required=True)
    create.add_argument("--id", required=True, type=int, help="node number, 0..254")
    create.add_argument(
        "--address", required=True, action="append", help="IP[:PORT]; repeat for more"
    )

    destroy = sub.add_parser(
        "membership-destroy", help="comment a node out (takes effect at the next restart)"
    )
    destroy.add_argument("--cluster", required=True)
    destroy.add_argument("--uuid", required=True)

    for name, text in (
        ("cluster-query", "needs_restart and each known node's state"),
        ("cluster-stop", "stop and disable the cluster software"),
    ):
        sub.add_parser(name, help=text).add_argument("--cluster", required=True)
    start = sub.add_parser("cluster-start", help="global heartbeat, enable and start o2cb")
    start.add_argument("--cluster", required=True)
    start.add_argument("--statefile-vdi", help="UUID of the cluster's o2cb_statefile VDI")

    show = sub.add_parser("conf-show", help="read a cluster.conf (default: the root's)")
    show.add_argument("file", nargs="?", type=Path)
    show.add_argument("--json", action="store_true", help="print JSON instead of a summary")

    probe = sub.add_parser(
        "probe", help="I/O-path health: multipath, bonding, heartbeat, or all of it (io)"
    )
    probe.add_argument("kind", choices=["multipath", "bonding", "heartbeat", "io"])
    probe.add_argument("--file", type=Path, help="parse this saved output instead")

    fault = sub.add_parser(
        "sandbox-fault",
        help="break or mend a sandbox host's I/O paths (sandbox only)",
        description="Faults: " + "; ".join(f"{name}: {text}" for name, text in FAULTS.items()),
    )
    fault.add_argument("fault", choices=list(FAULTS))
    fault.add_argument("target", nargs="?", help="the path device or bond slave")

    sub.add_parser("luns", help="the SAN LUNs this host sees, with paths and signatures")
    fmt = sub.add_parser("lun-format", help="mkfs.ocfs2 a LUN for O2CB with global heartbeat")
    fmt.add_argument("scsi_id")
    fmt.add_argument("--cluster", required=True)
    fmt.add_argument("--label", required=True)
    fmt.add_argument("--slots", type=int, default=16, help="node slots (default 16)")
    region = sub.add_parser("heartbeat-add", help="make a formatted LUN a heartbeat region")
    region.add_argument("--cluster", required=True)
    region.add_argument("region", help="the volume's UUID (blkid) or region name")

    crash = sub.add_parser(
        "analyse-crash",
        help="why a host crashed: O2CB fence, HA (xhad) fence or a bug",
        description="Reads a crash dump directory (/var/crash/<time>/), a log file, or a "
        "tar/zip/gz/xz/bz2 archive of either.",
    )
    crash.add_argument("path", type=Path)
    crash.add_argument("--json", action="store_true", help="print JSON instead of a summary")

    sub.add_parser("hello", help="this host's identity, boot time, agent version and key")
    trust = sub.add_parser(
        "trust-console",
        help="install the console's public key (from `manage.py console_key`); the agent "
        "refuses every call it did not seal",
    )
    trust.add_argument("key", help="ed25519:...")
    sub.add_parser("sandbox-reboot", help="reboot a sandbox host (sandbox only)")

    serve = sub.add_parser("serve", help="run the Celery worker for this host (or a sandbox)")
    serve.add_argument("--sandbox", type=Path, help="serve every sandbox host under this dir")
    serve.add_argument(
        "--report-interval",
        type=float,
        default=10.0,
        help="seconds between reports to the console (default 10)",
    )
    serve.add_argument("--concurrency", type=int, default=4)
    return parser


MULTIPATH_TIMEOUT = 60


def resolve_root(path: Path | None):
    from .realkernel import real_root
    from .sandbox.host import create_sandbox_host, sandbox_root

    if path is None or path.resolve() == Path("/"):
        return real_root()
    if not path.exists() or (path.is_dir() and not any(path.iterdir())):
        return create_sandbox_host(path.parent, path.name)
    return sandbox_root(path)


def run_probe(kind: str, file: Path | None, root) -> dict:
    from .heartbeat import probe_heartbeat
    from .io_probe import probe_bonds, probe_io
    from .probes.bonding import parse_bonding
    from .probes.multipath import parse_multipath
    from .probes.ovs_bond import parse_ovs_bonds

    if kind == "heartbeat":
        return probe_heartbeat(root)
    if kind == "io":
        return probe_io(root)
    if kind == "multipath":
        if file is None:
            text = subprocess.run(
                ["multipath", "-ll"], capture_output=True, text=True, timeout=MULTIPATH_TIMEOUT
            ).stdout
        else:
            text = file.read_text(errors="replace")
        return parse_multipath(text)
    if file is not None:
        text = file.read_text(errors="replace")
        if re.search(r"^bond_mode:", text, re.M):  # a saved `ovs-appctl bond/show`
            return {"bonds": parse_ovs_bonds(text)}
        return parse_bonding(text, name=file.name)
    return {"bonds": probe_bonds(root)}  # /proc/net/bonding and Open vSwitch's bonds


def conf_summary(conf) -> str:
    lines = []
    for cluster in conf.clusters.values():
        lines.append(
            f"cluster {cluster.name}: heartbeat {cluster.heartbeat_mode}, "
            f"{len(cluster.nodes)} nodes, {len(cluster.heartbeat_regions)} regions"
        )
        for node in sorted(cluster.nodes, key=lambda n: n.number):
            lines.append(f"  node {node.number:>3} {node.name} {node.ip_address}:{node.ip_port}")
        for node in cluster.commented_nodes:
            lines.append(f"  node {node.number:>3} {node.name} (commented out)")
        for region in cluster.heartbeat_regions:
            lines.append(f"  heartbeat region {region}")
    return "\n".join(lines) or "no clusters"


def analyse_crash(path: Path, as_json: bool) -> dict | str:
    from .crash import analyse_path

    result = analyse_path(path)
    if as_json:
        return result
    details = result["details"]
    aspects = [details.get(key) for key in ("mechanism", "watchdog", "kind")]
    method = details.get("fence_method")
    aspects.append(f"fence method {method}" if method else None)
    lines = [f"cause: {result['cause']} ({', '.join(a for a in aspects if a)})"]
    lines.append(f"time: {result['crash_time'] or 'unknown'}")
    lines.append(result["explanation"])
    if result["signature"]:
        lines.append(f"signature: {result['signature']}")
    lines += [f"  {e['file']}:{e['line']}: {e['text']}" for e in result["evidence"]]
    return "\n".join(lines)


# What breaks or reboots a sandbox host from outside, not a call its agent answers.
OUTSIDE_COMMANDS = ("sandbox-fault", "sandbox-reboot")
# The bound a command gives up at, where it has one of its own.
BOUNDS = {("probe", "multipath"): MULTIPATH_TIMEOUT}


def answer_delay(root) -> None:
    """The sandbox's slow host answers its own command line as late as its calls."""
    delay = root.kernel.answer_delay()
    if delay > 0:
        time.sleep(delay)


def describe(args: argparse.Namespace) -> str:
    words = [args.command] + [
        str(getattr(args, name))
        for name in ("kind", "fault", "target", "cluster")
        if getattr(args, name, None) is not None
    ]
    return " ".join(words)


def run(args: argparse.Namespace) -> object:
    if args.command == "analyse-crash":
        return analyse_crash(args.path, args.json)
    if args.command == "serve":
        from .worker import serve

        logging.basicConfig(level=logging.INFO)
        serve(args.sandbox, args.report_interval, args.concurrency)
        return None
    return run_on_host(args)


def run_on_host(args: argparse.Namespace) -> object:
    from . import storage
    from .cluster_conf import ClusterConf
    from .host import hello, trust_console
    from .kernel import CONF_FILE
    from .o2cb import O2CBPlugin
    from .sandbox.io import inject_fault

    root = resolve_root(args.root)
    if args.command not in OUTSIDE_COMMANDS:
        answer_delay(root)
    if args.command == "conf-show":
        conf = ClusterConf.load(args.file or root.path(CONF_FILE))
        if args.file and not args.file.exists():
            raise AgentError(f"{args.file}: no such file.")
        return conf.as_dict() if args.json else conf_summary(conf)
    if args.command == "hello":
        return hello(root)
    if args.command == "trust-console":
        return f"Trusting the console key {trust_console(root, args.key)}."
    if args.command == "probe":
        return run_probe(args.kind, args.file, root)
    if args.command == "luns":
        return storage.list_luns(root)
    if args.command == "lun-format":
        return storage.format_lun(root, args.scsi_id, args.cluster, args.label, args.slots)
    if args.command == "heartbeat-add":
        return O2CBPlugin(root, args.cluster).heartbeat_region_add(args.region)
    if args.command == "sandbox-fault":
        return inject_fault(root, args.fault, args.target)
    if args.command == "sandbox-reboot":
        root.kernel.reboot()
        return hello(root)
    plugin = O2CBPlugin(root, args.cluster)
    if args.command == "membership-create":
        return plugin.membership_create(args.hostname, args.uuid, args.id, args.address)
    if args.command == "membership-destroy":
        return plugin.membership_destroy(args.uuid)
    if args.command == "cluster-query":
        return plugin.cluster_query()
    if args.command == "cluster-start":
        return plugin.cluster_start(args.statefile_vdi)
    if args.command == "cluster-stop":
        return plugin.cluster_stop()
    raise AgentError(f"Unknown command {args.command}.")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "serve":
            result = run(args)  # a service: its start-up phases, then "ready"
        else:
            # Silent when quick, as usual; a slow host or tool is told on stderr each second.
            bound = BOUNDS.get((args.command, getattr(args, "kind", None)))
            if bound is not None and getattr(args, "file", None) is not None:
                bound = None  # a saved output is read, nothing is run
            progress = Progress(quiet_for=1.0)
            with progress.running(describe(args), bound=bound):
                result = run(args)
    except AgentError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        return 1
    if isinstance(result, str):
        print(result)
    elif result is not None:
        print(json.dumps(result, indent=2, sort_keys=True))
    return 0
