import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.cluster_conf import ClusterConf, ConfError, Node
from agent.kernel import run_o2cb


def o2cb(conf: Path, *args: str) -> str:
    return run_o2cb(*args, config=conf)


def o2cb_node_names(conf: Path, cluster: str) -> list[tuple[int, str]]:
    out = o2cb(conf, "list-nodes", cluster)
    numbers = [int(line.split("=")[1]) for line in out.splitlines() if "number =" in line]
    names = [line.split("=")[1].strip() for line in out.splitlines() if "name =" in line]
    return sorted(zip(numbers, names, strict=True))


@pytest.fixture
def tool_written(tmp_path) -> Path:
    """A cluster.conf exactly as Debian's o2cb tool writes it."""
    conf = tmp_path / "cluster.conf"
    o2cb(conf, "add-cluster", "webpool")
    o2cb(conf, "add-node", "--ip", "10.1.0.11", "--number", "0", "webpool", "xs-a")
    o2cb(
        conf, "add-node", "--ip", "10.1.0.12", "--port", "7778", "--number", "4", "webpool", "xs-b"
    )
    o2cb(conf, "heartbeat-mode", "webpool", "global")
    o2cb(conf, "add-heartbeat", "webpool", "0FCE19F3A2E14C0B8D21A7E5B4C3D2E1")
    return conf


def test_files_written_by_o2cb_parse_and_round_trip(tool_written):
    text = tool_written.read_text()
    conf = ClusterConf(text)
    assert conf.text == text
    assert conf.as_dict() == {
        "clusters": [
            {
                "name": "webpool",
                "heartbeat_mode": "global",
                "nodes": [
                    {"name": "xs-a", "number": 0, "ip_address": "10.1.0.11", "ip_port": 7777},
                    {"name": "xs-b", "number": 4, "ip_address": "10.1.0.12", "ip_port": 7778},
                ],
                "heartbeat_regions": ["0FCE19F3A2E14C0B8D21A7E5B4C3D2E1"],
            }
        ]
    }


def test_our_edits_are_read_by_the_real_o2cb(tool_written):
    conf = ClusterConf.load(tool_written)
    conf.add_node(Node("xs-c", 1, "10.1.0.13", 7777, "webpool"))
    conf.comment_out_node("webpool", 0)
    conf.save(tool_written)
    assert o2cb_node_names(tool_written, "webpool") == [(1, "xs-c"), (4, "xs-b")]
    assert "#\tname = xs-a" in tool_written.read_text()
    assert ClusterConf.load(tool_written).cluster("webpool").node_count == 2


HAND_EDITED = """\
# /etc/ocfs2/cluster.conf - edited by hand, do not let anyone run o2cb_ctl on it
cluster:
  name=prod
  node_count = 3
  heartbeat_mode = global

node:
    ip_port = 7777
    ip_address = 192.168.50.1
    number = 0
    name = xen1
    cluster = prod

node:
\tname = xen2\x20\x20
\tcluster = prod
\tnumber = 1
\tip_address = 192.168.50.2
\tip_port=7777

# xen3 was replaced in 2023
#node:
#\tip_port = 7777
#\tip_address = 192.168.50.3
#\tnumber = 2
#\tname = xen3
#\tcluster = prod

heartbeat:
        region = 6A2B0E1C9D3F4A5B8C7D6E5F4A3B2C1D
        cluster = prod
"""


def test_hand_edited_files_are_read_like_o2cb_reads_them(tmp_path):
    path = tmp_path / "cluster.conf"
    path.write_text(HAND_EDITED)
    conf = ClusterConf.load(path)
    cluster = conf.cluster("prod")
    assert [(n.number, n.name, n.ip_port) for n in cluster.nodes] == [
        (0, "xen1", 7777),
        (1, "xen2", 7777),
    ]
    assert [(n.number, n.name) for n in cluster.commented_nodes] == [(2, "xen3")]
    assert o2cb_node_names(path, "prod") == [(0, "xen1"), (1, "xen2")]
    assert conf.text == HAND_EDITED


def test_uncommenting_restores_the_original_text():
    conf = ClusterConf(HAND_EDITED)
    assert conf.uncomment_node("prod", 2, "xen3")
    assert conf.cluster("prod").node_by_number(2).name == "xen3"
    conf.comment_out_node("prod", 2)
    assert "#\tname = xen3" in conf.text


def node_stanza(name="h", cluster="a", number="1", ip="1.2.3.4", port="7777") -> str:
    return (
        f"node:\n\tname = {name}\n\tcluster = {cluster}\n\tnumber = {number}\n"
        f"\tip_address = {ip}\n\tip_port = {port}\n"
    )


CLUSTER_A = "cluster:\n\tname = a\n\tnode_count = 1\n"


@pytest.mark.parametrize(
    "text, message",
    [
        ("\tname = a\n" + CLUSTER_A, "outside any stanza"),
        ("cluster:\nname = a\n", "must be indented"),
        (CLUSTER_A + node_stanza(number="x"), "not a whole number"),
        (CLUSTER_A + node_stanza(port="seven"), "not a whole number"),
        (CLUSTER_A + node_stanza(cluster="b"), "unknown cluster 'b'"),
        (CLUSTER_A + node_stanza() + node_stanza(name="g"), "used twice"),
        (CLUSTER_A + node_stanza(number="255"), "outside 0..254"),
        (CLUSTER_A + " garbage here\n", "cannot read"),
        (CLUSTER_A + node_stanza().replace("\tip_port = 7777\n", ""), "missing ip_port"),
        (CLUSTER_A + CLUSTER_A, "defined twice"),
        ("heartbeat:\n\tcluster = a\n" + CLUSTER_A, "heartbeat has no region"),
    ],
)
def test_malformed_files_name_the_line(text, message):
    with pytest.raises(ConfError, match=message) as info:
        ClusterConf(text, "cluster.conf")
    assert "line " in str(info.value)


def test_unknown_stanzas_are_kept_and_ignored_like_o2cb_does():
    text = "cluster:\n\tname = a\n\tnode_count = 0\n\nfuture:\n\tknob = 1\n"
    conf = ClusterConf(text)
    assert conf.as_dict()["clusters"][0]["nodes"] == []
    assert conf.text == text


names = st.from_regex(r"[a-z][a-z0-9-]{0,14}", fullmatch=True)


@given(
    nodes=st.lists(
        st.tuples(st.integers(0, 254), names),
        unique_by=(lambda t: t[0], lambda t: t[1]),
        max_size=12,
    ),
    indent=st.sampled_from(["\t", "  ", "        "]),
    comments=st.lists(
        st.text(st.characters(blacklist_categories=["Cs", "Cc"]), max_size=30), max_size=3
    ),
)
def test_any_valid_file_round_trips_and_reads_back(nodes, indent, comments):
    lines = [f"# {c}" for c in comments] + [
        "cluster:",
        f"{indent}name = pool",
        f"{indent}node_count = {len(nodes)}",
        "",
    ]
    for number, name in nodes:
        lines += [
            "node:",
            f"{indent}number = {number}",
            f"{indent}name = {name}",
            f"{indent}ip_address = 10.0.{number}.1",
            f"{indent}ip_port = 7777",
            f"{indent}cluster = pool",
            "",
        ]
    text = "\n".join(lines) + "\n"
    conf = ClusterConf(text)
    assert conf.text == text
    assert sorted((n.number, n.name) for n in conf.cluster("pool").nodes) == sorted(nodes)


def test_interrupted_writes_leave_the_old_or_the_new_file(tmp_path):
    """SIGKILL a writer at random moments: the file is always whole and read by o2cb."""
    path = tmp_path / "cluster.conf"
    o2cb(path, "add-cluster", "pool")
    writer = f"""
import itertools
from agent.cluster_conf import ClusterConf, Node
path = {str(path)!r}
for i in itertools.count():
    conf = ClusterConf.load(path)
    number = i % 200
    if conf.cluster("pool").node_by_number(number):
        conf.comment_out_node("pool", number)
    conf.add_node(Node(f"n{{i}}", number, "10.0.0.1", 7777, "pool"))
    conf.save(path)
"""
    import random
    import sys
    import time

    for _ in range(15):
        proc = subprocess.Popen([sys.executable, "-c", writer], cwd=Path(__file__).parents[2])
        time.sleep(random.uniform(0.05, 0.4))
        proc.kill()
        proc.wait()
        conf = ClusterConf.load(path)  # parses: neither torn nor empty
        assert "pool" in conf.clusters
        o2cb(path, "list-cluster", "pool")
    assert not [
        p
        for p in tmp_path.iterdir()
        if p.name != "cluster.conf" and not p.name.startswith(".cluster.conf.")
    ]


def test_odd_bytes_survive_a_round_trip_and_an_edit(tmp_path):
    path = tmp_path / "cluster.conf"
    original = (
        "# Kühlhaus Zürich\ncluster:\n\tname = a\n\tnode_count = 0\n".encode()
        + b"# caf\xe9 (latin-1)\n"
    )
    path.write_bytes(original)
    conf = ClusterConf.load(path)
    assert conf.cluster("a").heartbeat_mode == "local"
    conf.save(path)
    assert path.read_bytes() == original
    conf.add_node(Node("h", 0, "10.0.0.1", 7777, "a"))
    conf.save(path)
    assert path.read_bytes().startswith(original[:20]) and b"caf\xe9" in path.read_bytes()
    assert ClusterConf.load(path).cluster("a").node_by_number(0).name == "h"


def test_binary_files_are_refused(tmp_path):
    path = tmp_path / "cluster.conf"
    path.write_bytes(b"cluster:\n\x00\x01\x02")
    with pytest.raises(ConfError, match="not a text file"):
        ClusterConf.load(path)


def test_edits_correct_a_wrong_node_count_in_place(tmp_path):
    path = tmp_path / "cluster.conf"
    path.write_text(
        "cluster:\n    name = a\n    node_count = 5\n    heartbeat_mode = global\n\n"
        + node_stanza(cluster="a", number="0", name="first")
    )
    conf = ClusterConf.load(path)
    conf.add_node(Node("second", 1, "10.0.0.2", 7777, "a"))
    conf.comment_out_node("a", 0)
    conf.save(path)
    assert "    node_count = 1\n" in path.read_text()
    assert o2cb_node_names(path, "a") == [(1, "second")]


def o2cb_reads(conf: Path) -> bool:
    try:
        o2cb(conf, "list-clusters")
    except Exception:
        return False
    return True


POOL = "cluster:\n\tname = pool\n\tnode_count = 1\n\theartbeat_mode = local\n\n"
NODE = (
    "node:\n\tname = dom0-a\n\tcluster = pool\n\tnumber = 3\n"
    "\tip_address = 172.16.9.21\n\tip_port = 7777\n"
)


@pytest.mark.parametrize(
    "text, line, message",
    [
        # jconfig's column rules: a stanza starts in the first column, its colon follows
        # the name at once, and only a line starting with '#' is a comment.
        (" cluster:\n\tname = pool\n\tnode_count = 0\n", 1, "first column"),
        ("cluster :\n\tname = pool\n\tnode_count = 0\n", 1, "cannot read"),
        (POOL + "node:\n\tname = dom0-a\n\t# spare\n\tcluster = pool\n", 8, "first column"),
        # A blank line ends a stanza: a setting after it belongs to none.
        (POOL + NODE.replace("\tnumber", "\n\tnumber"), 10, "blank line"),
        (POOL + NODE.replace("\tnumber", " \t\n\tnumber"), 10, "blank line"),
        # o2cb reads neither a Windows line end after a stanza name nor a byte-order mark.
        ("cluster:\r\n\tname = pool\r\n\tnode_count = 0\r\n", 1, "CRLF"),
        (POOL.replace("\n\n", "\n\r\n") + NODE, 5, "CRLF"),
        ("\ufeffcluster:\n\tname = pool\n\tnode_count = 0\n", 1, "byte-order mark"),
        ("\ufeff# pool\ncluster:\n\tname = pool\n\tnode_count = 0\n", 1, "byte-order mark"),
        # What o2cb_config insists on.
        ("cluster:\n\tname = pool\n\theartbeat_mode = local\n", 1, "node_count"),
        ("cluster:\n\tname = pool\n\tnode_count = some\n", 1, "node_count"),
        (POOL.replace("= local", "= disk"), 1, "heartbeat_mode 'disk'"),
        (POOL.replace("= local", "="), 1, "heartbeat_mode ''"),
        (POOL + NODE.replace("172.16.9.21", "fd00:9::21"), 6, "IPv4"),
        (POOL + NODE.replace("172.16.9.21", "172.16.9"), 6, "IPv4"),
        (POOL + NODE.replace("= 3", "= 1_0"), 6, "not a whole number"),
        (POOL + NODE.replace("= 7777", "= 7777 # default"), 6, "first column"),
        (POOL + NODE.replace("= 7777", "= 77\\\n77"), 11, "continued"),
    ],
)
def test_files_the_real_o2cb_refuses_are_refused_naming_the_line(tmp_path, text, line, message):
    path = tmp_path / "cluster.conf"
    path.write_text(text, newline="")
    assert not o2cb_reads(path)
    with pytest.raises(ConfError, match=message) as info:
        ClusterConf.load(path)
    assert f"line {line}:" in str(info.value)


@pytest.mark.parametrize(
    "text, message",
    [
        # o2cb reads these, but the kernel refuses the node when the cluster registers.
        (POOL + NODE.replace("= 7777", "= 0"), "outside 1..65534"),
        (POOL + NODE.replace("= 7777", "= 65535"), "outside 1..65534"),
        (
            POOL.replace("= 1", "= 2")
            + NODE
            + "\n"
            + NODE.replace("dom0-a", "dom0-b").replace("= 3", "= 4"),
            "172.16.9.21 is used twice",
        ),
    ],
)
def test_nodes_the_kernel_refuses_are_refused_naming_the_line(text, message):
    with pytest.raises(ConfError, match=message) as info:
        ClusterConf(text)
    assert "line " in str(info.value)


ODD_BUT_READ = """\
# written by hand; o2cb reads every line of it
heartbeat:
\tregion = 3C1D0E5F7A9B4C2D8E6F1A3B5C7D9E0F
\tcluster = pool

node:\x20\x20
\tip_port   =   7777
\tnumber = 9
\tname = dom0-z
\tname = dom0-b
# a comment in the first column does not end the stanza
\tcluster = pool
\tip_address = 172.16.9.22
\tserial = AB-1234

cluster:
\tnode_count = 7
\theartbeat_mode = Global
\tname = pool

cluster:
\tname = spare
\tnode_count = 0
"""


def test_what_o2cb_reads_is_read_the_same(tmp_path):
    path = tmp_path / "cluster.conf"
    path.write_text(ODD_BUT_READ)
    assert o2cb_node_names(path, "pool") == [(9, "dom0-b")]
    conf = ClusterConf.load(path)
    pool = conf.cluster("pool")
    assert [(n.number, n.name, n.ip_address, n.ip_port) for n in pool.nodes] == [
        (9, "dom0-b", "172.16.9.22", 7777)
    ]
    # o2cb lowercases the mode; the count it ignores is read as written.
    assert (pool.heartbeat_mode, pool.node_count) == ("global", 7)
    assert pool.heartbeat_regions == ["3C1D0E5F7A9B4C2D8E6F1A3B5C7D9E0F"]
    assert conf.cluster("spare").nodes == []
    assert conf.text == ODD_BUT_READ


def test_commenting_out_a_node_with_a_repeated_key_comments_all_its_lines(tmp_path):
    path = tmp_path / "cluster.conf"
    path.write_text(ODD_BUT_READ)
    conf = ClusterConf.load(path)
    conf.comment_out_node("pool", 9)
    conf.save(path)
    assert "#\tname = dom0-z\n" in path.read_text()
    assert o2cb_node_names(path, "pool") == []
    conf = ClusterConf.load(path)
    assert conf.cluster("pool").nodes == []
    assert conf.uncomment_node("pool", 9, "dom0-b")
    assert conf.text == ODD_BUT_READ.replace("node_count = 7", "node_count = 1")


def test_edits_to_one_cluster_leave_the_others_byte_for_byte(tmp_path):
    path = tmp_path / "cluster.conf"
    path.write_text(ODD_BUT_READ)
    conf = ClusterConf.load(path)
    conf.add_node(Node("dom0-n", 0, "172.16.9.30", 7777, "spare"))
    conf.save(path)
    text = path.read_text()
    assert text.startswith(ODD_BUT_READ.replace("node_count = 0", "node_count = 1"))
    assert o2cb_node_names(path, "spare") == [(0, "dom0-n")]
    assert o2cb_node_names(path, "pool") == [(9, "dom0-b")]


def test_lines_our_edits_add_end_as_o2cb_needs_even_after_a_crlf_comment(tmp_path):
    path = tmp_path / "cluster.conf"
    original = "# from a Windows share\r\n" + POOL + NODE
    path.write_text(original, newline="")
    assert o2cb_reads(path)
    conf = ClusterConf.load(path)
    conf.add_node(Node("dom0-c", 5, "172.16.9.23", 7777, "pool"))
    conf.add_heartbeat_region("pool", "0A1B2C3D4E5F60718293A4B5C6D7E8F9")
    conf.save(path)
    kept = original.replace("node_count = 1", "node_count = 2")
    assert path.read_bytes().startswith(kept.encode())
    assert o2cb_node_names(path, "pool") == [(3, "dom0-a"), (5, "dom0-c")]
