"""The o2cb plugin on sandbox hosts: same code path as a real host, emulated kernel only."""

import pytest

from agent.errors import AgentError
from agent.kernel import read_defaults
from agent.o2cb import O2CBPlugin
from agent.sandbox.host import create_sandbox_host

UUIDS = [f"00000000-0000-4000-8000-00000000000{i}" for i in range(1, 5)]


@pytest.fixture
def pool(tmp_path):
    """Three sandbox hosts, each knowing all three nodes, cluster started everywhere."""
    roots = [create_sandbox_host(tmp_path, f"h{i}", address=f"127.0.1.{i}") for i in (1, 2, 3)]
    for root in roots:
        plugin = O2CBPlugin(root, "pool")
        for i in range(3):
            plugin.membership_create(f"h{i + 1}", UUIDS[i], i, [f"127.0.1.{i + 1}"])
        plugin.cluster_start("5a5a5a5a-0000-4000-8000-000000000001")
    return roots


def states(root):
    return {h["hostname"]: h["state"] for h in O2CBPlugin(root, "pool").cluster_query()["hosts"]}


def test_started_hosts_see_each_other_alive(pool):
    query = O2CBPlugin(pool[0], "pool").cluster_query()
    assert query["running"] and query["enabled"] and not query["needs_restart"]
    assert query["local_node"] == 0
    assert states(pool[0]) == {"h1": "alive", "h2": "alive", "h3": "alive"}


def test_create_is_idempotent(pool):
    plugin = O2CBPlugin(pool[0], "pool")
    before = plugin.conf_path.read_text()
    result = plugin.membership_create("h2", UUIDS[1], 1, ["127.0.1.2"])
    assert result["changed"] is False
    assert plugin.conf_path.read_text() == before


def test_online_add_reaches_the_running_cluster(pool):
    plugin = O2CBPlugin(pool[0], "pool")
    plugin.membership_create("h4", UUIDS[3], 3, ["127.0.1.4:7790"])
    query = plugin.cluster_query()
    h4 = next(h for h in query["hosts"] if h["hostname"] == "h4")
    assert h4["configured"] and h4["live"] and h4["state"] == "dead"  # h4 has not started yet
    assert not query["needs_restart"]
    assert (pool[0].kernel.cluster_dir("pool") / "node/h4/ipv4_port").read_text() == "7790\n"


def test_destroy_comments_out_and_needs_a_restart_until_reboot(pool):
    plugin = O2CBPlugin(pool[0], "pool")
    assert plugin.membership_destroy(UUIDS[2])["changed"] is True
    assert plugin.membership_destroy(UUIDS[2])["changed"] is False  # again: nothing to do
    assert "#\tname = h3" in plugin.conf_path.read_text()
    query = plugin.cluster_query()
    assert query["needs_restart"]
    assert query["restart_reasons"] == [
        "node 2 (h3) was removed from cluster.conf but is still in the running cluster"
    ]
    pool[0].kernel.reboot()
    query = plugin.cluster_query()
    assert query["running"] and not query["needs_restart"]
    assert [h["hostname"] for h in query["hosts"]] == ["h1", "h2"]


def test_reboot_changes_boot_time_and_restarts_an_enabled_cluster(pool):
    before = pool[1].boot_time
    pool[1].kernel.reboot()
    assert pool[1].boot_time > before
    assert O2CBPlugin(pool[1], "pool").cluster_query()["running"]


def test_a_stopped_host_is_seen_dead_by_the_others(pool):
    O2CBPlugin(pool[2], "pool").cluster_stop()
    assert states(pool[0])["h3"] == "dead"
    assert not O2CBPlugin(pool[2], "pool").cluster_query()["running"]


def test_start_and_stop_manage_the_service_and_static_vdis(pool):
    root = pool[0]
    entries = list(root.path("etc/xensource/static-vdis").iterdir())
    assert [(e / "vdi-uuid").read_text().strip() for e in entries] == [
        "5a5a5a5a-0000-4000-8000-000000000001"
    ]
    defaults = read_defaults(root)
    assert defaults["O2CB_ENABLED"] == "true" and defaults["O2CB_BOOTCLUSTER"] == "pool"
    O2CBPlugin(root, "pool").cluster_start("5a5a5a5a-0000-4000-8000-000000000001")
    assert len(list(root.path("etc/xensource/static-vdis").iterdir())) == 1  # idempotent
    result = O2CBPlugin(root, "pool").cluster_stop()
    assert not result["running"] and not result["enabled"]
    assert list(root.path("etc/xensource/static-vdis").iterdir()) == []
    assert read_defaults(root)["O2CB_ENABLED"] == "false"


def second_cluster(root) -> O2CBPlugin:
    """Cluster 'other' in the host's cluster.conf beside 'pool' (o2cb allows both there)."""
    other = O2CBPlugin(root, "other")
    other.membership_create(root.hostname, UUIDS[3], 0, [f"127.0.1.{root.hostname[1:]}"])
    return other


def test_the_kernel_registers_one_cluster_per_host(pool):
    # o2nm_cluster_group_make_group answers -ENOSPC for a second cluster, and
    # `o2cb register-cluster` fails; the sandbox's configfs does the same.
    second_cluster(pool[0])
    with pytest.raises(AgentError, match="'pool' is registered on h1"):
        pool[0].kernel.sync_cluster("other")
    assert not pool[0].kernel.is_registered("other")
    assert pool[0].kernel.registered_clusters() == ["pool"]
    assert O2CBPlugin(pool[0], "pool").cluster_query()["running"]
    pool[0].kernel.sync_cluster("pool")  # registering the cluster it holds stays fine


def test_starting_a_second_cluster_is_refused_and_the_first_stays_the_boot_cluster(pool):
    other = second_cluster(pool[0])
    with pytest.raises(AgentError, match="O2CB cluster 'pool' runs on h1.*one O2CB cluster"):
        other.cluster_start()
    # Refused before anything changed: the next boot still starts 'pool'.
    assert read_defaults(pool[0])["O2CB_BOOTCLUSTER"] == "pool"
    pool[0].kernel.reboot()
    assert O2CBPlugin(pool[0], "pool").cluster_query()["running"]
    assert not other.cluster_query()["running"]


def test_a_second_cluster_starts_once_the_first_is_stopped(pool):
    other = second_cluster(pool[0])
    O2CBPlugin(pool[0], "pool").cluster_stop()
    assert other.cluster_start()["running"]
    assert read_defaults(pool[0])["O2CB_BOOTCLUSTER"] == "other"


def test_default_file_keeps_the_admins_other_settings(tmp_path):
    root = create_sandbox_host(tmp_path, "h1", address="127.0.1.1")
    root.path("etc/default").mkdir(parents=True)
    root.path("etc/default/o2cb").write_text("# tuned for our SAN\nO2CB_HEARTBEAT_THRESHOLD=61\n")
    plugin = O2CBPlugin(root, "pool")
    plugin.membership_create("h1", UUIDS[0], 0, ["127.0.1.1"])
    plugin.cluster_start()
    text = root.path("etc/default/o2cb").read_text()
    assert text.startswith("# tuned for our SAN\nO2CB_HEARTBEAT_THRESHOLD=61\n")
    dead = root.kernel.cluster_dir("pool") / "heartbeat/dead_threshold"
    assert dead.read_text() == "61\n"


def test_a_red_hat_style_dom0_keeps_its_settings_in_etc_sysconfig(tmp_path):
    # XenServer's and XCP-ng's dom0 are Red Hat-like: the o2cb init script sources
    # /etc/sysconfig/o2cb there, so the agent reads and writes that file too.
    root = create_sandbox_host(tmp_path, "h1", address="127.0.1.1")
    root.path("etc/sysconfig").mkdir(parents=True)
    sysconfig = root.path("etc/sysconfig/o2cb")
    sysconfig.write_text('O2CB_HEARTBEAT_THRESHOLD="61"  # tuned for our SAN\n')
    plugin = O2CBPlugin(root, "pool")
    plugin.membership_create("h1", UUIDS[0], 0, ["127.0.1.1"])
    plugin.cluster_start()
    assert not root.path("etc/default/o2cb").exists()
    assert sysconfig.read_text().startswith('O2CB_HEARTBEAT_THRESHOLD="61"  # tuned')
    assert read_defaults(root)["O2CB_BOOTCLUSTER"] == "pool"
    dead = root.kernel.cluster_dir("pool") / "heartbeat/dead_threshold"
    assert dead.read_text() == "61\n"


def test_a_cluster_conf_with_non_utf8_comment_bytes_takes_new_nodes_and_regions(tmp_path):
    # o2cb skips a comment's bytes whatever they are; the scratch copy the real o2cb
    # checks an edit on must hold them too, not fail to encode them.
    root = create_sandbox_host(tmp_path, "h1", address="127.0.1.1")
    comment = "# Zürich rack, caf".encode() + b"\xe9 (latin-1)\n"
    conf = root.path("etc/ocfs2/cluster.conf")
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_bytes(comment + b"cluster:\n\tname = pool\n\tnode_count = 0\n")
    plugin = O2CBPlugin(root, "pool")
    plugin.membership_create("h1", UUIDS[0], 0, ["127.0.1.1"])
    plugin.heartbeat_region_add("0A1B2C3D4E5F60718293A4B5C6D7E8F9")
    assert conf.read_bytes().startswith(comment)
    assert b"\tname = h1\n" in conf.read_bytes()
    assert b"region = 0A1B2C3D4E5F60718293A4B5C6D7E8F9" in conf.read_bytes()


@pytest.mark.parametrize("number", [255, 300, -1])
def test_numbers_outside_0_to_254_are_refused_and_change_nothing(pool, number):
    plugin = O2CBPlugin(pool[0], "pool")
    before = plugin.conf_path.read_text()
    with pytest.raises(AgentError, match="Restart the cluster to free node numbers"):
        plugin.membership_create("h9", UUIDS[3], number, ["127.0.1.9"])
    assert plugin.conf_path.read_text() == before


def test_conflicting_number_or_name_is_refused(pool):
    plugin = O2CBPlugin(pool[0], "pool")
    with pytest.raises(AgentError, match="held by h2"):
        plugin.membership_create("h9", UUIDS[3], 1, ["127.0.1.9"])
    with pytest.raises(AgentError, match="already node 1"):
        plugin.membership_create("h2", UUIDS[1], 7, ["127.0.1.2"])


def test_bad_addresses_and_cluster_names_are_refused(tmp_path):
    root = create_sandbox_host(tmp_path, "h1")
    with pytest.raises(AgentError, match="IPv4"):
        O2CBPlugin(root, "pool").membership_create("h1", UUIDS[0], 0, ["fe80::1"])
    with pytest.raises(AgentError, match="not a valid O2CB cluster name"):
        O2CBPlugin(root, "a name with spaces")


def test_a_number_freed_after_restart_can_go_to_a_new_host(pool):
    plugin = O2CBPlugin(pool[0], "pool")
    plugin.membership_destroy(UUIDS[2])
    pool[0].kernel.reboot()
    plugin.membership_create("h5", UUIDS[3], 2, ["127.0.1.5"])
    conf = plugin.conf_path.read_text()
    assert "#\tname = h3" in conf and "\tname = h5" in conf
    query = plugin.cluster_query()
    assert not query["needs_restart"]
    assert {h["hostname"]: h["live"] for h in query["hosts"]}["h5"] is True


def test_query_reports_the_timeouts_the_host_runs_with(pool):
    assert O2CBPlugin(pool[0], "pool").cluster_query()["timeouts"] == {
        "dead_threshold": 31,
        "idle_timeout_ms": 30000,
        "keepalive_delay_ms": 2000,
        "reconnect_delay_ms": 2000,
    }
    pool[1].path("etc/default/o2cb").write_text(
        pool[1].path("etc/default/o2cb").read_text() + "O2CB_HEARTBEAT_THRESHOLD=61\n"
    )
    # Still 31 while running: the kernel keeps what it started with until a restart.
    assert O2CBPlugin(pool[1], "pool").cluster_query()["timeouts"]["dead_threshold"] == 31
    pool[1].kernel.reboot()
    assert O2CBPlugin(pool[1], "pool").cluster_query()["timeouts"]["dead_threshold"] == 61
