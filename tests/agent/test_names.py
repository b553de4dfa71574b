"""Names that reach files, paths and commands follow O2CB's own rules."""

import pytest

from agent.errors import AgentError
from agent.names import NODE_NAME_MAX, check_node_name, check_region, new_cluster_name_problem
from agent.o2cb import O2CBPlugin
from agent.sandbox.host import create_sandbox_host

HOSTILE = [
    "../../etc",
    "a b=c",
    "x\nnumber = 0",
    "--number=3",
    "-x",
    "x-",
    "a/b",
    "",
    "x" * (NODE_NAME_MAX + 1),
    "é" * 33,  # 66 bytes: the kernel counts bytes
]


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_node_names_are_refused(name):
    with pytest.raises(AgentError):
        check_node_name(name)


@pytest.mark.parametrize("name", ["xs-01", "host1.pool.example", "XS_7", "x" * NODE_NAME_MAX])
def test_host_names_o2cb_can_use_pass(name):
    assert check_node_name(name) == name


@pytest.mark.parametrize("name", HOSTILE[:6])
def test_the_agent_writes_no_node_with_a_hostile_name(tmp_path, name):
    root = create_sandbox_host(tmp_path / "sandbox", "h1", address="127.0.9.1")
    before = sorted(p for p in tmp_path.rglob("*"))
    with pytest.raises(AgentError):
        O2CBPlugin(root, "pool").membership_create(name, "u-1", 1, ["127.0.9.2"])
    assert sorted(p for p in tmp_path.rglob("*")) == before


def test_a_sandbox_host_cannot_be_made_outside_its_sandbox(tmp_path):
    with pytest.raises(AgentError, match="not a host name"):
        create_sandbox_host(tmp_path / "sandbox", "../escaped")
    assert not (tmp_path / "escaped").exists()


def test_a_name_that_looks_like_an_option_is_a_name_to_o2cb(tmp_path):
    # Only add-node takes `--` (measured: register-cluster and add-heartbeat read it as a
    # cluster name), so every other value is checked before it reaches o2cb.
    root = create_sandbox_host(tmp_path / "sandbox", "h1", address="127.0.9.1")
    made = O2CBPlugin(root, "pool").membership_create("h1", "u-1", 0, ["127.0.9.1"])
    assert made["node"]["name"] == "h1"
    with pytest.raises(AgentError, match="heartbeat region"):
        O2CBPlugin(root, "pool").heartbeat_region_add("--help")


def test_regions_are_volume_uuids():
    assert check_region("0123456789ABCDEF0123456789ABCDEF")
    with pytest.raises(AgentError):
        check_region("0123456789abcdef0123456789abcdeg")


@pytest.mark.parametrize(
    "name, ok",
    [
        ("pool", True),
        ("Pool7", True),
        ("pool-1", False),
        ("a_b", False),
        ("x" * 17, False),
        ("", False),
    ],
)
def test_new_cluster_names_follow_o2cb_add_cluster(name, ok):
    assert (new_cluster_name_problem(name) is None) == ok
