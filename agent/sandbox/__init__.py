"""The sandbox: hosts emulated under a directory, for demos, tests and benchmarks.

It builds on the real agent and is never imported by it: `kernel.SandboxKernel` is
the sandbox's side of the seam (agent/kernel.py), `io` its SAN, storage network and
disk heartbeat with faults to inject (`faults`), `host` makes sandbox host
directories. Only the entry points (agent/worker.py, agent/cli.py; agent/plugin.py and
agent/calls.py lazily, for tests and the sandbox-only calls) and the console's
demo and tests import it.
"""
