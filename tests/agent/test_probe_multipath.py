"""The multipath parser reads the layouts libmultipath/print.c has printed since 0.4.5."""

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.probes import ProbeError
from agent.probes.multipath import parse_multipath

FIXTURES = Path(__file__).parent / "fixtures" / "multipath"


def parse(name: str) -> dict:
    return parse_multipath((FIXTURES / name).read_text(encoding="utf-8"))


def states(result: dict) -> list[tuple]:
    return [
        (p["device"], p["dm_state"], p["checker_state"], p["online_state"], p["group"])
        for p in result["paths"]
    ]


# fixture -> (format, summary)
SUMMARIES = {
    "current_alias_alua_two_groups.txt": ("topology", (1, 2, 2, 0, 0)),
    "current_no_alias_two_maps.txt": ("topology", (2, 8, 8, 0, 0)),
    "current_failed_faulty_offline.txt": ("topology", (1, 4, 2, 2, 2)),
    "current_all_paths_down_queueing.txt": ("topology", (1, 2, 0, 2, 2)),
    "current_ghost_standby.txt": ("topology", (1, 4, 4, 0, 0)),
    "current_list_l_undef_checker.txt": ("topology", (1, 2, 2, 0, 0)),
    "current_create_prefix.txt": ("topology", (1, 3, 0, 0, 0)),
    "current_reload_with_warnings.txt": ("topology", (1, 3, 3, 0, 0)),
    "current_v4_noise.txt": ("topology", (1, 2, 2, 0, 0)),
    "current_ansi_bold_readonly.txt": ("topology", (1, 2, 2, 0, 0)),
    "current_unknown_vendor_missing_device.txt": ("topology", (1, 2, 1, 1, 1)),
    "multipathd_show_topology_nvme_delayed.txt": ("topology", (2, 6, 5, 1, 0)),
    "old_048_bracketed_rw.txt": ("topology", (1, 2, 2, 0, 0)),
    "old_048_failed_faulty.txt": ("topology", (2, 5, 3, 2, 1)),
    "old_048_list_l_no_alias.txt": ("topology", (1, 4, 4, 0, 0)),
    "old_045_rhel4.txt": ("topology", (1, 2, 1, 1, 1)),
    "flattened_current_one_line.txt": ("topology", (1, 2, 2, 0, 0)),
    "flattened_old_one_line.txt": ("topology", (1, 2, 2, 0, 0)),
    "show_paths_table.txt": ("paths", (None, 5, 3, 1, 1)),
    "show_paths_old_bracketed.txt": ("paths", (None, 3, 2, 1, 1)),
    "show_paths_collapsed_spaces.txt": ("paths", (None, 3, 2, 1, 1)),
    "current_resize_empty_action.txt": ("topology", (2, 6, 5, 1, 1)),
    "multipathd_show_topology_nvme_native.txt": ("topology", (2, 5, 2, 0, 0)),
    "copy_paste_smart_quotes_nbsp.txt": ("topology", (1, 4, 3, 1, 1)),
    "old_045_single_state.txt": ("topology", (2, 4, 1, 1, 1)),
    "show_paths_with_nvme_native.txt": ("paths", (None, 4, 1, 1, 1)),
    "show_paths_custom_format.txt": ("paths", (None, 3, 2, 1, 1)),
}


def test_every_fixture_is_covered():
    on_disk = {p.name for p in FIXTURES.glob("*.txt")} - {"dm_driver_not_loaded.txt"}
    assert on_disk == set(SUMMARIES)


@pytest.mark.parametrize("name", sorted(SUMMARIES))
def test_summary(name):
    fmt, (maps, paths, active, failed, faulty) = SUMMARIES[name]
    result = parse(name)
    assert result["format"] == fmt
    assert result["summary"] == {
        "maps": maps,
        "paths": paths,
        "active": active,
        "failed": failed,
        "faulty": faulty,
    }
    assert len(result["maps"]) == (maps or 0)
    flat = [p for m in result["maps"] for g in m["path_groups"] for p in g["paths"]]
    if fmt == "topology":
        assert flat == result["paths"]
        for m in result["maps"]:
            for index, group in enumerate(m["path_groups"]):
                assert all(p["map"] == m["name"] and p["group"] == index for p in group["paths"])


def test_current_layout_with_alias():
    result = parse("current_alias_alua_two_groups.txt")
    [m] = result["maps"]
    assert (m["name"], m["alias"], m["wwid"], m["dm"]) == (
        "mpatha",
        "mpatha",
        "36001405a1b2c3d4e5f60718293a4b5c6",
        "dm-2",
    )
    assert (m["vendor"], m["product"], m["revision"]) == ("LIO-ORG", "pool-lun0", None)
    assert (m["size"], m["size_bytes"]) == ("10G", 10 * 1024**3)
    assert (m["features"], m["hwhandler"], m["write_protect"]) == (
        "1 queue_if_no_path",
        "1 alua",
        "rw",
    )
    assert [(g["policy"], g["priority"], g["status"]) for g in m["path_groups"]] == [
        ("service-time 0", 50, "active"),
        ("service-time 0", 10, "enabled"),
    ]
    assert result["paths"][0] == {
        "hcil": "3:0:0:1",
        "device": "sdc",
        "dev_t": "8:32",
        "dm_state": "active",
        "checker_state": "ready",
        "online_state": "running",
        "map": "mpatha",
        "group": 0,
    }


def test_map_without_alias_is_named_by_wwid():
    maps = parse("current_no_alias_two_maps.txt")["maps"]
    assert [(m["name"], m["alias"], m["dm"], m["size"]) for m in maps] == [
        ("3600508b4000156d700012000000b0000", None, "dm-0", "500G"),
        ("3600508b4000156d700012000000c0000", None, "dm-1", "1.5T"),
    ]
    assert maps[1]["size_bytes"] == int(1.5 * 1024**4)
    assert maps[1]["wwid"] == maps[1]["name"]
    assert [p["device"] for p in maps[1]["path_groups"][1]["paths"]] == ["sdd", "sdh"]


def test_failed_paths_and_features_with_spaces():
    result = parse("current_failed_faulty_offline.txt")
    [m] = result["maps"]
    assert m["features"] == "3 queue_if_no_path pg_init_retries 50"
    assert m["product"] == "LUN C-Mode" and m["size"] == "2.0T"
    assert states(result) == [
        ("sdb", "active", "ready", "running", 0),
        ("sdd", "failed", "faulty", "offline", 0),
        ("sdc", "active", "ready", "running", 1),
        ("sde", "failed", "faulty", "running", 1),
    ]


def test_ghost_paths_are_standby_not_faulty():
    result = parse("current_ghost_standby.txt")
    assert [p["checker_state"] for p in result["paths"]] == ["ready", "ready", "ghost", "ghost"]
    assert result["maps"][0]["hwhandler"] == "1 emc"


def test_list_without_checker_reports_undef():
    result = parse("current_list_l_undef_checker.txt")
    assert {p["checker_state"] for p in result["paths"]} == {"undef"}
    assert [g["priority"] for g in result["maps"][0]["path_groups"]] == [0, 0]


def test_create_prefix_and_unknown_dm():
    [m] = parse("current_create_prefix.txt")["maps"]
    assert (m["name"], m["alias"], m["dm"], m["write_protect"]) == ("mpathd", "mpathd", None, None)
    assert [g["status"] for g in m["path_groups"]] == ["undef", "undef"]
    assert m["path_groups"][0]["paths"][0]["dm_state"] == "undef"


def test_reload_prefix_warnings_and_multiword_checker_states():
    result = parse("current_reload_with_warnings.txt")
    [m] = result["maps"]
    assert (m["name"], m["vendor"], m["product"]) == ("lun_heartbeat", "EMC", "SYMMETRIX")
    assert [p["checker_state"] for p in result["paths"]] == ["ready", "shaky", "i/o pending"]
    assert [p["online_state"] for p in result["paths"]] == ["running"] * 3


def test_verbose_run_ignores_log_and_paths_list_but_keeps_revision():
    result = parse("current_v4_noise.txt")
    [m] = result["maps"]
    assert m["name"] == "mpatha" and m["revision"] == "4.0"
    assert [p["device"] for p in result["paths"]] == ["sdc", "sdd"]


def test_ansi_escapes_and_read_only_map():
    [m] = parse("current_ansi_bold_readonly.txt")["maps"]
    assert (m["name"], m["dm"], m["write_protect"]) == ("mpatha", "dm-2", "ro")
    assert len(m["path_groups"]) == 1 and len(m["path_groups"][0]["paths"]) == 2


def test_unknown_vendor_and_missing_device():
    result = parse("current_unknown_vendor_missing_device.txt")
    [m] = result["maps"]
    assert (m["vendor"], m["product"]) == (None, None)
    assert result["paths"][0]["hcil"] == "#:#:#:#"
    assert (result["paths"][0]["device"], result["paths"][0]["dev_t"]) == ("-", "#:#")
    assert result["paths"][1]["online_state"] == "unknown"


def test_show_topology_with_delayed_timeout_disconnected():
    result = parse("multipathd_show_topology_nvme_delayed.txt")
    assert result["maps"][0]["product"] == "SAMSUNG MZWLL1T6HAJQ-00005"
    assert [p["checker_state"] for p in result["paths"]] == [
        "ready",
        "delayed",
        "ready",
        "i/o timeout",
        "ready",
        "disconnected",
    ]
    assert result["paths"][4]["hcil"] == "10:0:0:10"


def test_old_bracketed_layout():
    result = parse("old_048_bracketed_rw.txt")
    [m] = result["maps"]
    assert (m["name"], m["wwid"], m["dm"], m["vendor"], m["product"]) == (
        "mpath19",
        "360001ff0721160000000002688e10002",
        "dm-2",
        "DDN",
        "S2A 6620",
    )
    assert (m["size"], m["size_bytes"], m["features"], m["hwhandler"], m["write_protect"]) == (
        "21T",
        21 * 1024**4,
        "1 queue_if_no_path",
        "0",
        "rw",
    )
    assert [(g["policy"], g["priority"], g["status"]) for g in m["path_groups"]] == [
        ("round-robin 0", 50, "active"),
        ("round-robin 0", 10, "enabled"),
    ]
    assert states(result) == [
        ("sdg", "active", "ready", None, 0),
        ("sdf", "active", "ready", None, 1),
    ]


def test_old_layout_failed_and_ghost():
    result = parse("old_048_failed_faulty.txt")
    assert [m["hwhandler"] for m in result["maps"]] == ["1 rdac", "1 rdac"]
    assert result["maps"][0]["product"] == "1815      FAStT"
    assert [(p["map"], p["dm_state"], p["checker_state"]) for p in result["paths"]] == [
        ("mpath1", "active", "ready"),
        ("mpath1", "failed", "faulty"),
        ("mpath1", "failed", "ghost"),
        ("mpath1", "active", "ghost"),
        ("mpath2", "active", "ready"),
    ]


def test_old_list_without_alias_or_write_protect():
    [m] = parse("old_048_list_l_no_alias.txt")["maps"]
    assert (m["name"], m["alias"], m["dm"], m["write_protect"]) == (
        "1HITACHI_730600240012",
        None,
        "dm-53",
        None,
    )
    dev_ts = [p["dev_t"] for p in m["path_groups"][0]["paths"]]
    assert dev_ts == ["67:64", "69:192", "128:64", "8:192"]
    assert {p["checker_state"] for p in m["path_groups"][0]["paths"]} == {"undef"}


def test_rhel4_layout_quoted_values_and_spaced_size():
    result = parse("old_045_rhel4.txt")
    [m] = result["maps"]
    assert (m["dm"], m["vendor"], m["size"], m["size_bytes"]) == (None, None, "10 GB", 10 * 1024**3)
    assert (m["features"], m["hwhandler"]) == ("1 queue_if_no_path", "0")
    assert [(g["priority"], g["status"]) for g in m["path_groups"]] == [
        (None, "active"),
        (None, "enabled"),
    ]


@pytest.mark.parametrize("name", ["flattened_current_one_line.txt", "flattened_old_one_line.txt"])
def test_text_joined_onto_one_line(name):
    result = parse(name)
    assert [g["status"] for g in result["maps"][0]["path_groups"]] == ["active", "enabled"]
    assert [p["device"] for p in result["paths"]] == (
        ["sdb", "sdf"] if "current" in name else ["sdb", "sdc"]
    )


def test_show_paths_table():
    result = parse("show_paths_table.txt")
    assert result["maps"] == []
    assert states(result) == [
        ("sdc", "active", "ready", "running", None),
        ("sdd", "active", "ready", "running", None),
        ("sde", "failed", "faulty", "offline", None),
        ("sdf", "active", "i/o pending", "running", None),
        ("sda", "undef", "undef", "unknown", None),
    ]
    assert result["paths"][0]["hcil"] == "3:0:0:1" and result["paths"][0]["map"] is None


@pytest.mark.parametrize(
    "name", ["show_paths_old_bracketed.txt", "show_paths_collapsed_spaces.txt"]
)
def test_show_paths_variants(name):
    result = parse(name)
    assert result["format"] == "paths"
    assert [p["dm_state"] for p in result["paths"]][:2] == ["active", "failed"]
    assert "faulty" in [p["checker_state"] for p in result["paths"]]


def test_show_paths_with_multipath_column():
    text = (
        "dev  multipath chk_st dm_st  dev_t hcil\n"
        "sdc  mpatha    ready  active 8:32  3:0:0:1\n"
        "sdz  [orphan]  undef  undef  65:144 9:0:0:9\n"
    )
    result = parse_multipath(text)
    assert [(p["device"], p["map"], p["hcil"]) for p in result["paths"]] == [
        ("sdc", "mpatha", "3:0:0:1"),
        ("sdz", None, "9:0:0:9"),
    ]


def test_action_without_a_name_keeps_the_map_name():
    # multipath -r prints ": " before a map it resizes (an action print.c has no word for).
    result = parse("current_resize_empty_action.txt")
    assert [(m["name"], m["wwid"], m["dm"], m["vendor"]) for m in result["maps"]] == [
        ("sr_gold", "3600a09803831417a4d5d4b6f70736c31", "dm-6", "NETAPP"),
        ("sr_silver", "3600a09803831417a4d5d4b6f70736c32", "dm-7", "NETAPP"),
    ]
    failed = [
        (p["map"], p["device"], p["hcil"]) for p in result["paths"] if p["dm_state"] != "active"
    ]
    assert failed == [("sr_gold", "sdr", "12:0:0:4")]


def test_native_nvme_map_from_multipathd():
    # multipathd's nvme foreign library: "<wwid> [nvme]:<namespace> NVMe,<model>,<firmware>",
    # size in 512-byte sectors, ANA states where SCSI maps have checker states, no dm state.
    result = parse("multipathd_show_topology_nvme_native.txt")
    scsi, nvme = result["maps"]
    assert (scsi["name"], len(scsi["path_groups"][0]["paths"])) == ("mpathk", 2)
    assert (nvme["name"], nvme["wwid"], nvme["alias"], nvme["dm"]) == (
        "uuid.3c1b7e2a-5d4f-4a8e-9b6c-0e1f2a3b4c5d",
        "uuid.3c1b7e2a-5d4f-4a8e-9b6c-0e1f2a3b4c5d",
        None,
        "nvme2n1",
    )
    assert (nvme["vendor"], nvme["product"], nvme["revision"]) == (
        "NVMe",
        "PURE FlashArray",
        "6.6.4",
    )
    assert nvme["size_bytes"] == 2 * 1024**4
    assert (nvme["features"], nvme["hwhandler"], nvme["write_protect"]) == (None, "ANA", "rw")
    assert [(g["policy"], g["priority"], g["status"]) for g in nvme["path_groups"]] == [
        (None, 50, "optimized"),
        (None, 10, "non-optimized"),
        (None, 0, "inaccessible"),
    ]
    assert [
        (p["hcil"], p["device"], p["dm_state"], p["checker_state"], p["online_state"], p["group"])
        for p in nvme["path_groups"][2]["paths"]
    ] == [("2:2:1", "nvme2c2n1", None, "inaccessible", "connecting", 2)]
    assert [p["map"] for p in result["paths"][2:]] == [nvme["name"]] * 3


def test_text_copied_from_a_web_page():
    # Typographic quotes, non-breaking spaces and a byte-order mark from a pasted page.
    result = parse("copy_paste_smart_quotes_nbsp.txt")
    [m] = result["maps"]
    assert (m["name"], m["dm"], m["product"]) == ("vmstore01", "dm-9", "2145")
    assert (m["features"], m["hwhandler"]) == ("1 queue_if_no_path", "1 alua")
    assert [(g["policy"], g["status"]) for g in m["path_groups"]] == [
        ("service-time 0", "active"),
        ("service-time 0", "enabled"),
    ]
    assert states(result)[:2] == [
        ("sdw", "active", "ready", "running", 0),
        ("sdx", "failed", "faulty", "running", 0),
    ]


def test_rhel4_path_with_one_state_is_read_by_its_value():
    # 0.4.5 prints nothing for an unknown dm state or checker state: "[ready]" alone is the
    # checker's word (a map being created), "[active]" alone the kernel's (multipath -l).
    result = parse("old_045_single_state.txt")
    assert [m["name"] for m in result["maps"]] == ["mpath4", "mpath5"]
    assert [(p["device"], p["dm_state"], p["checker_state"]) for p in result["paths"]] == [
        ("sdd", None, "ready"),
        ("sdh", None, "faulty"),
        ("sde", "active", None),
        ("sdi", "failed", None),
    ]


def test_show_paths_with_native_nvme_rows_keeps_every_row():
    result = parse("show_paths_with_nvme_native.txt")
    assert states(result) == [
        ("sdj", "active", "ready", "running", None),
        ("nvme2c0n1", None, "optimized", "live", None),
        ("nvme2c2n1", None, "inaccessible", "connecting", None),
        ("sdk", "failed", "faulty", "offline", None),
    ]
    assert [p["hcil"] for p in result["paths"]] == ["14:0:0:1", "2:0:1", "2:2:1", "15:0:0:1"]


def test_show_paths_in_a_format_of_ones_own():
    # multipathd show paths format "%d %m %T %t %o": no hcil nor dev_t column.
    result = parse("show_paths_custom_format.txt")
    assert [(p["device"], p["map"], p["hcil"]) for p in result["paths"]][1] == (
        "sdn",
        "sr_bronze",
        None,
    )
    assert states(result) == [
        ("sdm", "active", "ready", "running", None),
        ("sdn", "failed", "faulty", "offline", None),
        ("sdo", "active", "i/o timeout", "running", None),
    ]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \n\n",
        (FIXTURES / "dm_driver_not_loaded.txt").read_text(),
        "Ethernet Channel Bonding Driver: v3.7.1\nBonding Mode: load balancing (xor)\n",
        "mpatha (3600) dm-0 X,Y\n",
        "size=10G but nothing else",
    ],
)
def test_garbage_raises_probe_error(text):
    with pytest.raises(ProbeError, match="no multipath map or path table"):
        parse_multipath(text)


def test_crlf_and_tabs():
    text = (FIXTURES / "current_failed_faulty_offline.txt").read_text().replace("\n", "\r\n")
    assert parse_multipath(text)["summary"]["failed"] == 2


TOPOLOGY_ALPHABET = st.sampled_from(
    list("abcdefgh0123456789:|`-+_\\[]()'=, \n\t#.")
    + [
        "size=",
        "features='",
        "policy='",
        "prio=",
        "status=",
        "[size=",
        "\\_ ",
        "|-+- ",
        "`- ",
        "dm-",
        "3:0:0:1 sdc 8:32 ",
        "active ",
        "ready ",
        "running\n",
        "hcil dev dev_t\n",
        "mpatha (360) dm-1 A,B\n",
        "size=1G features='0' hwhandler='0' wp=rw\n",
        "i/o ",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(TOPOLOGY_ALPHABET, max_size=60).map("".join))
def test_random_topology_like_text_only_raises_probe_error(text):
    try:
        result = parse_multipath(text)
    except ProbeError:
        return
    assert result["format"] in ("topology", "paths")
    assert result["summary"]["paths"] == len(result["paths"])


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_random_text_only_raises_probe_error(text):
    try:
        parse_multipath(text)
    except ProbeError:
        pass
