"""`python -m lab`: act on the running lab (`make lab`) from the command line."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .faults import FAULTS, apply
from .kernel import LabError
from .pool import Lab

DEFAULT_DIR = Path(__file__).resolve().parent.parent / "var" / "lab"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m lab",
        description="The real-kernel lab's guests, from outside: faults as they happen to "
        "real hosts, and what each guest's console shows.",
    )
    parser.add_argument("--dir", type=Path, default=Path(os.environ.get("LAB_DIR", DEFAULT_DIR)))
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    fault = sub.add_parser(
        "fault",
        help="apply a fault to a guest",
        description="Faults: " + "; ".join(f"{name}: {text}" for name, text in FAULTS.items()),
    )
    fault.add_argument("guest", help="lab-01, lab-02, ... (or 1, 2, ...)")
    fault.add_argument("fault", choices=list(FAULTS))
    fault.add_argument("target", nargs="?", help="LUN:PATH, LUN or bond slave, as the fault needs")
    sub.add_parser("status", help="each guest: running or not, its boots, its last console line")
    console = sub.add_parser("console", help="the end of a guest's console (serial) log")
    console.add_argument("guest")
    console.add_argument("--lines", type=int, default=40)
    return parser


def status(lab: Lab) -> str:
    lines = []
    for guest in lab.guests:
        logs = sorted(guest.dir.glob("console-*.log"))
        last = logs[-1].read_text(errors="replace").strip().splitlines()[-1:] if logs else []
        try:
            state = guest.qmp("query-status")["status"]
        except LabError:
            state = "not running"
        lines.append(f"{guest.name}: {state}, {len(logs)} boots; {last[0] if last else ''}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        lab = Lab.load(args.dir)
        if args.command == "fault":
            print(apply(lab, args.guest, args.fault, args.target))
        elif args.command == "status":
            print(status(lab))
        elif args.command == "console":
            guest = lab.guest(args.guest)
            logs = sorted(guest.dir.glob("console-*.log"))
            text = logs[-1].read_text(errors="replace") if logs else ""
            print("\n".join(text.splitlines()[-args.lines :]))
    except LabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
