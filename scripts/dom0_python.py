"""Check that the XAPI host plugin runs on dom0's own python3, with its standard library only.

XenServer 8 and XCP-ng 8.3 run host plugins with the control domain's system python3,
3.6 (xcp-ng-xapi-plugins: "XCP-ng 8.3 uses Python 3.6"), where nothing may be installed
beside it. The plugin is deploy/xapi/o2cb-agent; what it runs is every module of ours it
imports, at the top of a module or inside a function, and what those import in turn: its
import closure, which is also exactly what the host package installs (`plugin_files`).

Fails on:
- anything in the closure that needs a Python newer than 3.6 (vermin, with annotations
  evaluated, as agent/contract.py evaluates them);
- an import outside the standard library and our own closure (cryptography, Celery);
- the sandbox imported at the top of a closure module: the sandbox (agent/sandbox/, tests
  and demos only) may be imported inside a function only, and is not packaged; it is held
  to 3.6 too, since the plugin's tests run it there.

    python scripts/dom0_python.py          # the check (make lint runs it)
    python scripts/dom0_python.py --files  # the files the host package installs
"""

import argparse
import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = Path("deploy/xapi/o2cb-agent")
PACKAGE = "agent"
SANDBOX = "agent.sandbox"
DOM0_PYTHON = "3.6"


def _module_path(root: Path, name: str) -> Path | None:
    base = root.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _imports(path: Path, this: str):
    """(module name, inside a function) for each import in `path` (module `this`)."""
    package = this if path.name == "__init__.py" else this.rpartition(".")[0]
    tree = ast.parse(path.read_text(), str(path))
    found = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(
                child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
            )
            if isinstance(child, ast.Import):
                found.extend((alias.name, in_function) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    parts = package.split(".")
                    base = parts[: len(parts) - child.level + 1]
                    module = ".".join(base + ([child.module] if child.module else []))
                else:
                    module = child.module or ""
                found.append((module, in_function))
                # `from pkg import mod` imports pkg/mod.py too.
                found.extend((f"{module}.{alias.name}", in_function) for alias in child.names)
            visit(child, nested)

    visit(tree, False)
    return found


def closure(root: Path = ROOT) -> tuple[list[Path], list[str]]:
    """The plugin's files (repo-relative, the plugin first) and what is wrong with them."""
    files = {PLUGIN: None}
    problems = []
    queue = [(PLUGIN, "__main__")]
    seen = set()
    while queue:
        relative, this = queue.pop()
        for name, in_function in _imports(root / relative, this):
            top = name.split(".")[0]
            if top != PACKAGE:
                if top not in sys.stdlib_module_names and _module_path(root, name) is None:
                    problems.append(f"{relative} imports {name}, outside the standard library.")
                continue
            if name == SANDBOX or name.startswith(SANDBOX + "."):
                if not in_function:
                    problems.append(
                        f"{relative} imports {name} at the top: the sandbox is not on dom0, "
                        "import it inside the function that needs it."
                    )
                continue
            # A module brings its packages' __init__ with it.
            parts = name.split(".")
            for depth in range(1, len(parts) + 1):
                module = ".".join(parts[:depth])
                path = _module_path(root, module)
                if path is None or module in seen:
                    continue  # a name imported from a module, not a module
                seen.add(module)
                files[path.relative_to(root)] = None
                queue.append((path.relative_to(root), module))
    return [PLUGIN, *sorted(path for path in files if path != PLUGIN)], problems


def plugin_files(root: Path = ROOT) -> list[Path]:
    """What the host package installs, repo-relative: the plugin (deploy/xapi/o2cb-agent,
    into /etc/xapi.d/plugins/) first, then the agent's modules it runs (agent/..., into the
    code directory /usr/lib/o2cb-agent/, keeping their paths)."""
    return closure(root)[0]


def vermin_problems(root: Path, files: list[Path]) -> list[str]:
    """What vermin finds in `files` that dom0's python cannot run."""
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from vermin.main import main; sys.exit(main())",
            "--no-config-file",
            f"--target={DOM0_PYTHON}-",
            "--violations",
            "--no-tips",
            "--eval-annotations",
            "--feature",
            "union-types",
            # No `# novm` comment may hide a violation.
            "--no-parse-comments",
            "--no-make-paths-absolute",
            *(str(path) for path in files),
        ],
        cwd=root,
        capture_output=True,
        text=True,
    )
    if result.returncode == 0:
        return []
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    return lines or [f"vermin failed with exit status {result.returncode}."]


def check(root: Path = ROOT) -> list[str]:
    files, problems = closure(root)
    # The sandbox is never on dom0, but the plugin's tests run it on 3.6 too.
    sandbox = sorted(path.relative_to(root) for path in (root / "agent/sandbox").rglob("*.py"))
    return problems + vermin_problems(root, files + sandbox)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT)
    parser.add_argument("--files", action="store_true", help="list the plugin's files")
    options = parser.parse_args()
    if options.files:
        print("\n".join(str(path) for path in plugin_files(options.root)))
        return 0
    problems = check(options.root)
    if problems:
        print(f"The XAPI plugin would not run on dom0's python {DOM0_PYTHON}:")
        print("\n".join(f"  {problem}" for problem in problems))
        return 1
    count = len(plugin_files(options.root))
    print(f"The XAPI plugin's {count} files need python {DOM0_PYTHON} and its standard library.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
