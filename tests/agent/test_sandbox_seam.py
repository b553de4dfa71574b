"""The sandbox builds on the real agent, never the other way round."""

import importlib.util
from pathlib import Path

from agent.hostroot import HostRoot
from agent.kernel import Kernel
from agent.realkernel import RealKernel, real_root
from agent.sandbox.host import create_sandbox_host
from agent.sandbox.kernel import SandboxKernel

ROOT = Path(__file__).resolve().parents[2]
# The entry points choose which kernel a host gets; only they may build sandbox roots
# (agent.calls only for the sandbox-only calls, lazily).
COMPOSITION_ROOTS = {"agent.worker", "agent.cli", "agent.calls", "agent.plugin"}


def import_graph():
    spec = importlib.util.spec_from_file_location("import_graph", ROOT / "scripts/import_graph.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.collect(ROOT)


def test_no_real_agent_module_imports_the_sandbox():
    offenders = {
        source: sorted(t for t in targets if t.startswith("agent.sandbox"))
        for source, targets in import_graph().items()
        if source.startswith("agent")
        and not source.startswith("agent.sandbox")
        and source not in COMPOSITION_ROOTS
    }
    assert {source: found for source, found in offenders.items() if found} == {}


def test_probes_and_storage_never_ask_whether_a_host_is_a_sandbox():
    for name in ("io_probe", "storage", "heartbeat", "o2cb", "kernel", "realkernel"):
        assert ".sandbox" not in (ROOT / f"agent/{name}.py").read_text().replace(
            "agent.sandbox.kernel.SandboxKernel", ""
        ), name


def test_the_root_hands_out_its_kernel_and_both_kinds_fill_the_seam(tmp_path):
    sandbox = create_sandbox_host(tmp_path, "seam-1", address="127.0.1.9")
    assert isinstance(sandbox.kernel, SandboxKernel) and sandbox.sandbox
    assert (sandbox.hostname, sandbox.addresses) == ("seam-1", ["127.0.1.9"])
    real = real_root()
    assert isinstance(real.kernel, RealKernel) and not real.sandbox
    assert HostRoot(sandbox.root, RealKernel).uuid == sandbox.uuid
    seam = {name for name, value in vars(Kernel).items() if callable(value)}
    for kind in (RealKernel, SandboxKernel):
        missing = [
            name
            for name in seam
            if getattr(kind, name) is getattr(Kernel, name)
            and "raise NotImplementedError" in _source(getattr(Kernel, name))
        ]
        assert missing == [], kind.__name__


def _source(function) -> str:
    import inspect

    return inspect.getsource(function)
