"""The real-kernel lab's figures: each scenario of tests/lab on three QEMU guests, timed.

Runs the lab test (which writes each phase's seconds where LAB_FIGURES says), prints the
figures and, with --write, adds them to bench/RESULTS.md under today's date:

    python scripts/with_redis.py .venv/bin/python bench/lab_scenarios.py [--write]
"""

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import PROGRESS, ROOT


def run_lab_test() -> dict[str, float]:
    with tempfile.TemporaryDirectory() as work:
        figures = Path(work) / "figures.json"
        # One whole line: pytest tells its own progress (on stdout, as before), and a phase
        # rewritten in place on a terminal would run into its dots.
        PROGRESS.say("the lab's scenarios: pytest tests/lab on three QEMU guests")
        subprocess.run(
            [sys.executable, "-m", "pytest", "tests/lab", "-q", "-p", "no:cacheprovider"],
            cwd=ROOT,
            env={**os.environ, "LAB_FIGURES": str(figures)},
            check=True,
        )
        return json.loads(figures.read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="append to bench/RESULTS.md")
    args = parser.parse_args()
    figures = run_lab_test()
    lines = [f"| {name.replace('_', ' ')} | {value} s |" for name, value in figures.items()]
    table = "\n".join(["| lab scenario (3 guests, TCG, 2 cores) | time |", "|---|---|", *lines])
    print(table)
    if args.write:
        with open(ROOT / "bench" / "RESULTS.md", "a") as results:
            results.write(f"\n## {datetime.date.today()}: the real-kernel lab\n\n{table}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
