import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def agent(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "agent", *args], cwd=ROOT, capture_output=True, text=True, timeout=60
    )


def test_help_lists_every_command():
    result = agent("--help")
    assert result.returncode == 0
    for command in [
        "membership-create",
        "membership-destroy",
        "cluster-query",
        "cluster-start",
        "cluster-stop",
        "conf-show",
        "hello",
        "serve",
    ]:
        assert command in result.stdout


def test_an_empty_directory_becomes_a_sandbox_host(tmp_path):
    host = tmp_path / "xs-17"
    host.mkdir()
    hello = json.loads(agent("--root", str(host), "hello").stdout)
    assert hello["hostname"] == "xs-17" and hello["sandbox"] is True
    assert (host / "etc/xensource-inventory").exists()


def test_membership_commands_print_json_and_write_a_file_o2cb_reads(tmp_path):
    host = str(tmp_path / "xs-1")
    created = agent(
        "--root",
        host,
        "membership-create",
        "--cluster",
        "pool",
        "--hostname",
        "xs-1",
        "--uuid",
        "u-1",
        "--id",
        "0",
        "--address",
        "10.2.0.1:7777",
    )
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["node"]["number"] == 0
    shown = json.loads(agent("--root", host, "conf-show", "--json").stdout)
    assert shown["clusters"][0]["nodes"] == [
        {"name": "xs-1", "number": 0, "ip_address": "10.2.0.1", "ip_port": 7777}
    ]
    listed = subprocess.run(
        ["o2cb", f"--config-file={host}/etc/ocfs2/cluster.conf", "list-nodes", "pool"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "name = xs-1" in listed.stdout
    query = json.loads(agent("--root", host, "cluster-query", "--cluster", "pool").stdout)
    assert query["configured"] and not query["running"]


@pytest.mark.parametrize(
    "args, message",
    [
        (
            [
                "membership-create",
                "--cluster",
                "pool",
                "--hostname",
                "h",
                "--uuid",
                "u",
                "--id",
                "300",
                "--address",
                "10.0.0.1",
            ],
            "Restart the cluster to free node numbers",
        ),
        (["cluster-start", "--cluster", "nosuch"], "not in cluster.conf"),
        (["conf-show", "MISSING"], "no such file"),
    ],
)
def test_errors_are_one_line_on_stderr_and_change_nothing(tmp_path, args, message):
    host = tmp_path / "xs-1"
    agent(
        "--root",
        str(host),
        "membership-create",
        "--cluster",
        "pool",
        "--hostname",
        "xs-1",
        "--uuid",
        "u-1",
        "--id",
        "0",
        "--address",
        "10.2.0.1",
    )
    conf = host / "etc/ocfs2/cluster.conf"
    before = conf.read_text()
    args = [str(tmp_path / a) if a == "MISSING" else a for a in args]
    result = agent("--root", str(host), *args)
    assert result.returncode == 1
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1 and message in result.stderr
    assert conf.read_text() == before


def test_a_malformed_file_is_one_clear_line(tmp_path):
    bad = tmp_path / "cluster.conf"
    bad.write_text(
        "cluster:\n\tname = a\n\tnode_count = 1\nnode:\n\tname = h\n\tcluster = a\n\tnumber = x\n"
        "\tip_address = 1.2.3.4\n\tip_port = 7777\n"
    )
    result = agent("conf-show", str(bad), "--json")
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: {bad} line 4: number 'x' is not a whole number."


def test_conf_show_summary_is_readable(tmp_path):
    conf = tmp_path / "cluster.conf"
    subprocess.run(["o2cb", f"--config-file={conf}", "add-cluster", "pool"], check=True)
    subprocess.run(
        [
            "o2cb",
            f"--config-file={conf}",
            "add-node",
            "--ip",
            "10.0.0.5",
            "--number",
            "5",
            "pool",
            "xs-5",
        ],
        check=True,
    )
    out = agent("conf-show", str(conf)).stdout
    assert "cluster pool: heartbeat local, 1 nodes" in out
    assert "node   5 xs-5 10.0.0.5:7777" in out


def test_the_agent_never_imports_django():
    """Its own code, that is: kombu probes for Django by itself when it is installed."""
    import ast

    console_side = {
        "django",
        "rest_framework",
        "core",
        "console",
        "clusters",
        "maintenance",
        "crashes",
    }
    for path in (ROOT / "agent").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.split(".")[0] not in console_side, f"{path.name} imports {name}"


def test_a_slow_hosts_command_tells_its_progress_on_stderr_and_answers_alone_on_stdout(tmp_path):
    host = tmp_path / "xs-slow"
    host.mkdir()
    quick = agent("--root", str(host), "hello")
    assert quick.returncode == 0 and quick.stderr == ""  # quick as usual: nothing more
    (host / "etc/sandbox").mkdir(parents=True, exist_ok=True)
    (host / "etc/sandbox/agent-delay").write_text("2.5\n")
    slow = agent("--root", str(host), "hello")
    assert slow.returncode == 0, slow.stderr
    assert json.loads(slow.stdout) == json.loads(quick.stdout)
    lines = slow.stderr.splitlines()
    assert "\r" not in slow.stderr  # not a terminal: plain lines
    assert lines[0].startswith("hello: ") and lines[0].endswith(" s")
    assert lines[-1].startswith("hello: done (")


def test_sandbox_faults_and_reboots_stay_quiet_with_their_answer_on_stdout(tmp_path):
    host = tmp_path / "xs-2"
    host.mkdir()
    agent("--root", str(host), "hello")
    (host / "etc/sandbox").mkdir(parents=True, exist_ok=True)
    (host / "etc/sandbox/agent-delay").write_text("2.5\n")  # the agent's answers, not these
    for args in (["sandbox-fault", "power-off"], ["sandbox-fault", "power-on"]):
        result = agent("--root", str(host), *args)
        assert result.returncode == 0 and result.stderr == ""
        assert json.loads(result.stdout)
    rebooted = agent("--root", str(host), "sandbox-reboot")
    assert rebooted.returncode == 0 and rebooted.stderr == ""
    assert json.loads(rebooted.stdout)["hostname"] == "xs-2"


def test_serve_tells_its_start_up_then_one_ready_line(tmp_path, redis_url):
    import os
    import time

    sandbox = tmp_path / "sandbox"
    (sandbox / "xs-1").mkdir(parents=True)
    agent("--root", str(sandbox / "xs-1"), "hello")
    log = tmp_path / "serve.err"
    env = dict(os.environ, REDIS_URL=redis_url)
    with open(log, "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "agent", "serve", "--sandbox", str(sandbox)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        deadline = time.monotonic() + 60
        while "\nready: " not in log.read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    said = [line for line in log.read_text().splitlines() if line.startswith(("agent:", "ready:"))]
    assert said[0] == "agent: finding the hosts to serve..."
    assert said[1].startswith(
        "agent: finding the hosts to serve: 1 host(s), their keys ready: xs-1"
    )
    assert said[-1].startswith("ready: agent serving xs-1 on 1 queue(s) (after ")
    assert sum(line.startswith("ready:") for line in said) == 1
