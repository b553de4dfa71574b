"""The largest files and functions, and every function longer than the limit without a
reason written in the comment right above it (one starting `# Long:`).

    python scripts/code_size.py            # the 10 largest of each, then problems
    python scripts/code_size.py --root ../other-checkout --top 20
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ["agent", "core", "clusters", "maintenance", "crashes", "console"]
LIMIT = 60


def functions(path: Path):
    lines = path.read_text().splitlines()
    for node in ast.walk(ast.parse("\n".join(lines), str(path))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            comment = []  # the comment block right above the function
            index = first - 2
            while index >= 0 and lines[index].strip().startswith("#"):
                comment.insert(0, lines[index].strip())
                index -= 1
            yield node.name, node.lineno, node.end_lineno - node.lineno + 1, comment


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT)
    parser.add_argument("--top", type=int, default=10)
    args = parser.parse_args(argv)
    root = args.root.resolve()
    files, funcs, problems = [], [], []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            name = str(path.relative_to(root))
            files.append((len(path.read_text().splitlines()), name))
            for function, line, length, comment in functions(path):
                funcs.append((length, f"{name}:{line} {function}"))
                if length > LIMIT and not any(c.startswith("# Long:") for c in comment):
                    problems.append(f"{name}:{line} {function} is {length} lines")
    print("Largest files (lines):")
    for length, name in sorted(files, reverse=True)[: args.top]:
        print(f"  {length:5}  {name}")
    print("Largest functions (lines):")
    for length, name in sorted(funcs, reverse=True)[: args.top]:
        print(f"  {length:5}  {name}")
    if problems:
        print(f"\nOver {LIMIT} lines with no '# Long:' reason above them:", file=sys.stderr)
        for problem in problems:
            print(f"- {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
