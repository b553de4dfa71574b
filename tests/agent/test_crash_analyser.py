"""The crash analyser's verdicts on logs written the way Linux, Xen, xha and xapi write them."""

import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from agent.crash import analyse_lines, analyse_path

FIXTURES = Path(__file__).parent / "fixtures" / "crash"

CAUSES = {
    "o2cb_disk_syslog_panic.log": "o2cb",
    "o2cb_disk_dmesg_reset.txt": "o2cb",
    "o2cb_disk_old_bare.log": "o2cb",
    "o2cb_network_quorum_new.log": "o2cb",
    "o2cb_network_old_wording.log": "o2cb",
    "o2cb_quorum_only.log": "o2cb",
    "o2cb_fence_message_lost.log": "o2cb",
    "o2cb_timeout_only.log": "o2cb",
    "o2cb_then_reboot.log": "o2cb",
    "o2cb_disk_console_wrapped.txt": "o2cb",
    "o2cb_lost_fence_then_next_boot.log": "o2cb",
    "o2cb_network_debugfs_idle.log": "o2cb",
    "xhad_xen_watchdog_old.log": "xhad",
    "xhad_xen_watchdog_stamped.log": "xhad",
    "xhad_xen_watchdog_id.log": "xhad",
    "xhad_xha_self_fence.log": "xhad",
    "xhad_xha_requested_fence.log": "xhad",
    "xhad_xapi_fence.log": "xhad",
    "xhad_xha_watchdog_expired.log": "xhad",
    "bug_ocfs2_bug_new.log": "bug",
    "bug_ocfs2_bug_old.log": "bug",
    "bug_ocfs2_bug_2618_x86_64.log": "bug",
    "bug_null_pointer_new.log": "bug",
    "bug_null_pointer_old.log": "bug",
    "bug_soft_lockup.log": "bug",
    "bug_hard_lockup_nmi.log": "bug",
    "bug_hard_lockup_panic_3x.log": "bug",
    "bug_hung_task.log": "bug",
    "bug_gpf_bare.log": "bug",
    "bug_xen_fatal_trap.log": "bug",
    "bug_xen_cpu_stuck.log": "bug",
    "bug_ocfs2_panic_forced.log": "bug",
    "bug_after_earlier_hang.log": "bug",
    "negative_peer_died.log": "bug",
    "negative_mentions_only.log": "bug",
    "negative_timeout_then_clean_reboot.log": "bug",
    "negative_timeout_then_reboot_console.txt": "bug",
    "negative_lockup_then_planned_reboot.log": "bug",
}


def analyse(name: str) -> dict:
    return analyse_path(FIXTURES / name)


def lines_of(result: dict) -> list[int]:
    return [item["line"] for item in result["evidence"]]


def fixture_lines(name: str) -> list[str]:
    return (FIXTURES / name).read_text().splitlines()


def test_every_fixture_is_covered():
    assert {p.name for p in FIXTURES.iterdir()} == set(CAUSES)


@pytest.mark.parametrize("name", sorted(CAUSES))
def test_cause_and_shape(name):
    result = analyse(name)
    assert result["cause"] == CAUSES[name]
    assert set(result) >= {"cause", "explanation", "evidence", "crash_time", "details"}
    assert result["explanation"].endswith(".")
    text = fixture_lines(name)
    for item in result["evidence"]:
        assert item["file"] == name
        # 1-based line numbers that point at the cited text, without line ends.
        assert text[item["line"] - 1].rstrip("\r") == item["text"]
    assert bool(result["signature"]) == (
        result["cause"] == "bug" and result["details"]["kind"] != "unknown"
    )


def same_time(result: dict, month_day_time: str) -> bool:
    """Syslog omits the year (taken from the file's date): compare the rest."""
    return re.fullmatch(rf"\d{{4}}-{month_day_time}\+00:00", result["crash_time"] or "") is not None


# ---------------------------------------------------------------- O2CB


def test_disk_heartbeat_fence_by_panic():
    result = analyse("o2cb_disk_syslog_panic.log")
    details = result["details"]
    assert details["mechanism"] == "disk_heartbeat"
    assert (details["device"], details["timeout_ms"]) == ("dm-3", 60000)
    assert details["fence_method"] == "panic"
    assert details["region"] == "6C0D2A4E50B04A3790C1D2E3F4A5B6C7"
    assert details["uptime_seconds"] == pytest.approx(9420.802399)
    assert lines_of(result) == [7, 8, 9, 10]
    assert same_time(result, "11-25T10:00:00")
    assert "dm-3" in result["explanation"] and "60000 ms" in result["explanation"]


def test_disk_heartbeat_fence_by_reset_in_dmesg():
    result = analyse("o2cb_disk_dmesg_reset.txt")
    details = result["details"]
    assert (details["mechanism"], details["device"], details["timeout_ms"]) == (
        "disk_heartbeat",
        "sdb",
        30000,
    )
    assert details["fence_method"] == "reset"
    # The mlog prefix names the region's first ten characters.
    assert details["region"] == "8F6E1C2D3B"
    assert result["crash_time"] is None  # dmesg has no wall clock
    assert lines_of(result) == [5, 6, 7]


def with_wall_clock(lines: list, style: str) -> list:
    """The lines as `dmesg -T`, `dmesg -T -x` or `dmesg --time-format=iso` prints them, for
    a kernel booted at 2026-11-25 09:00:00 (the machine's local time, +01:00)."""
    boot = datetime(2026, 11, 25, 9, 0, 0)

    def stamp(match) -> str:
        at = boot + timedelta(seconds=float(match[1]))
        return {
            "ctime": at.strftime("[%a %b %e %H:%M:%S %Y]"),
            "ctime decoded": at.strftime("kern  :err   : [%a %b %e %H:%M:%S %Y]"),
            "iso": at.strftime("%Y-%m-%dT%H:%M:%S,%f+01:00"),
        }[style]

    return [re.sub(r"^\[ *(\d+\.\d+)\]", stamp, line) for line in lines]


@pytest.mark.parametrize(
    ("style", "crash_time"),
    [
        ("ctime", "2026-11-25T09:56:24+00:00"),  # no zone: read as UTC, as syslog is
        ("ctime decoded", "2026-11-25T09:56:24+00:00"),
        ("iso", "2026-11-25T09:56:24.993201+01:00"),  # the fence line's own
    ],
)
def test_dmesg_with_the_wall_clock_gives_the_fence_its_time(style, crash_time):
    lines = with_wall_clock(fixture_lines("o2cb_disk_dmesg_reset.txt"), style)
    assert lines[4].startswith(("[Wed Nov 25 09:56:24 2026] ", "kern  :err   : [Wed", "2026-"))

    result = analyse_lines([("dmesg.txt", lines)])

    assert result["cause"] == "o2cb"
    assert (result["details"]["device"], result["details"]["fence_method"]) == ("sdb", "reset")
    assert lines_of(result) == [5, 6, 7]
    assert result["crash_time"] == crash_time


def test_old_kernel_wording_without_stamps():
    """2.6-era mlog prefix "(pid,cpu):func:line ERROR:" and the fence without stars."""
    result = analyse("o2cb_disk_old_bare.log")
    details = result["details"]
    assert (details["device"], details["timeout_ms"], details["fence_method"]) == (
        "sdc",
        12000,
        "reset",
    )
    assert lines_of(result) == [3, 4, 5]
    assert result["crash_time"] is None


def test_network_fence_new_wording_with_crlf_and_half_quorum():
    result = analyse("o2cb_network_quorum_new.log")
    details = result["details"]
    assert details["mechanism"] == "network"
    assert (details["node"], details["node_number"], details["address"]) == (
        "xs-host-02",
        1,
        "10.20.0.12:7777",
    )
    assert details["idle_seconds"] == 30.5
    assert details["quorum"] == {"connected": 1, "needed": 1, "heartbeating": 2, "lowest_node": 0}
    assert details["fence_method"] == "reset"
    assert same_time(result, "03-04T03:03:23")
    assert all("\r" not in item["text"] for item in result["evidence"])
    assert "xs-host-02" in result["explanation"]


def test_network_fence_old_wording_and_panicking_spelling():
    result = analyse("o2cb_network_old_wording.log")
    details = result["details"]
    assert details["mechanism"] == "network"
    # The last peer that went idle before the quorum decision; both are listed.
    assert (details["node"], details["node_number"], details["idle_seconds"]) == ("xs8", 3, 30.0)
    assert details["peers"] == ["xs7", "xs8"]
    assert details["quorum"] == {"connected": 1, "needed": 2, "heartbeating": 3}
    assert details["fence_method"] == "panic"
    assert 9 in lines_of(result) and 11 in lines_of(result)


def test_quorum_fence_without_idle_messages():
    result = analyse("o2cb_quorum_only.log")
    details = result["details"]
    assert details["mechanism"] == "quorum"
    assert details["quorum"] == {"connected": 1, "needed": 2, "heartbeating": 3}
    assert result["crash_time"] == "2026-02-11T08:41:04.125699+00:00"
    assert "only 1 node(s)" in result["explanation"]


def test_fence_whose_message_never_reached_the_log():
    """With fence method reset the host restarts before syslog writes the fence message."""
    result = analyse("o2cb_fence_message_lost.log")
    details = result["details"]
    assert (details["mechanism"], details["device"], details["timeout_ms"]) == (
        "disk_heartbeat",
        "sdd1",
        120000,
    )
    assert details["fence_method"] is None
    assert details["region"] == "3D1E0FBA5C6B4A0D9E8F7A6B5C4D3E2F"
    assert lines_of(result) == [3, 4]


def test_heartbeat_timeout_left_alone_is_still_the_fence():
    result = analyse("o2cb_timeout_only.log")
    assert result["details"]["mechanism"] == "disk_heartbeat"
    assert result["details"]["device"] == "dm-7"
    assert lines_of(result) == [2]
    assert "not in the log" in result["explanation"]


def test_fence_of_an_earlier_boot_is_what_ended_the_system():
    result = analyse("o2cb_then_reboot.log")
    assert result["details"]["device"] == "dm-1"
    assert lines_of(result) == [3, 4, 5]
    assert same_time(result, "05-19T03:40:02")


# ---------------------------------------------------------------- XenServer HA


@pytest.mark.parametrize(
    ("name", "lines"),
    [
        ("xhad_xen_watchdog_old.log", [6, 7]),
        ("xhad_xen_watchdog_stamped.log", [5, 6]),
        ("xhad_xen_watchdog_id.log", [2, 3]),
    ],
)
def test_xen_watchdog_fired_for_dom0(name, lines):
    result = analyse(name)
    details = result["details"]
    assert details["watchdog"] == "xen_domain_watchdog"
    assert details["domain"] == 0
    assert details["hypervisor_action"] == "watchdog rebooting machine"
    assert lines_of(result) == lines
    assert "watchdog for domain 0" in result["explanation"]


def test_watchdog_id_and_uptime():
    assert analyse("xhad_xen_watchdog_id.log")["details"]["watchdog_id"] == 2
    stamped = analyse("xhad_xen_watchdog_stamped.log")
    assert stamped["details"]["uptime_seconds"] == pytest.approx(86410.021876)


def test_xha_self_fence_with_its_reason():
    result = analyse("xhad_xha_self_fence.log")
    assert result["details"]["watchdog"] == "xha_self_fence"
    assert result["details"]["xha_reason"] == "FH: cannot get consistent view within timeout."
    # xha.log writes the year: the time is exact.
    assert result["crash_time"] == "2026-11-25T10:00:00+00:00"
    assert lines_of(result) == [3, 4]


def test_xha_fence_requested_by_a_peer_is_not_o2cb():
    """Its reason says "fencing is requested", but it is xhad's fence."""
    result = analyse("xhad_xha_requested_fence.log")
    assert result["details"]["xha_reason"] == "Heartbeat: fencing is requested from host (0)."
    assert result["crash_time"] == "2025-08-30T02:15:47+00:00"


def test_xapi_and_xha_watchdog_messages():
    assert analyse("xhad_xapi_fence.log")["details"]["watchdog"] == "xha_self_fence"
    expired = analyse("xhad_xha_watchdog_expired.log")
    assert expired["details"]["xha_watchdog"] == "statefile"
    assert lines_of(expired) == [3]


# ---------------------------------------------------------------- bugs


def test_ocfs2_kernel_bug_is_a_bug_not_a_fence():
    result = analyse("bug_ocfs2_bug_new.log")
    details = result["details"]
    assert details["kind"] == "kernel_bug"
    assert details["location"] == "fs/ocfs2/dlmglue.c:2841"
    assert (details["function"], details["module"]) == ("ocfs2_inode_lock_full_nested", "ocfs2")
    assert details["panic"] == "Fatal exception"
    # Unreliable "?" frames, offsets, clone suffixes and syscall entry frames are gone.
    assert details["frames"] == [
        "ocfs2_inode_lock_full_nested",
        "ocfs2_inode_lock_tracker",
        "ocfs2_permission",
        "inode_permission",
        "link_path_walk",
    ]
    assert lines_of(result) == [3, 7, 27]  # BUG, RIP, panic
    assert result["signature"].split()[1] == "kernel_bug"


def test_a_kernel_bug_in_2618_x86_64_wording_names_its_place_and_frames():
    """Until 2.6.19 x86_64 printed "Kernel BUG at FILE:LINE" (capital K, no "!"), its die
    counter without "#", and frames as ":module:function"."""
    result = analyse("bug_ocfs2_bug_2618_x86_64.log")
    details = result["details"]
    assert details["kind"] == "kernel_bug"
    assert details["location"] == "fs/ocfs2/dlmglue.c:2987"
    assert (details["function"], details["module"]) == ("ocfs2_inode_lock_full", "ocfs2")
    assert details["frames"] == [
        "ocfs2_inode_lock_full",
        "ocfs2_unlink",
        "vfs_unlink",
        "do_unlinkat",
    ]
    assert details["panic"] == "Fatal exception"
    assert lines_of(result) == [3, 9, 24]


def test_an_oops_counted_without_a_hash_is_an_oops():
    result = analyse_lines(
        [
            (
                "kern.log",
                [
                    "Mar 14 03:12:07 oel5 kernel: Oops: 0002 [1] SMP ",
                    "Mar 14 03:12:07 oel5 kernel:  <0>Kernel panic - not syncing: Fatal exception",
                ],
            )
        ]
    )
    assert (result["details"]["kind"], result["details"]["failure"]) == (
        "oops",
        "Oops: 0002 [1] SMP",
    )
    # Words in passing are not: a program's "Oops [1]" leaves the panic as the failure.
    passing = analyse_lines(
        [
            (
                "kern.log",
                [
                    "Mar 14 03:12:07 oel5 app: Oops [1] retrying",
                    "kernel: Kernel panic - not syncing: x",
                ],
            )
        ]
    )
    assert passing["details"]["kind"] == "kernel_panic"


@pytest.mark.parametrize(
    ("fault", "kind"),
    [
        ("Unable to handle kernel paging request at ffff810200000000 RIP: ", "paging_fault"),
        (
            "Unable to handle kernel NULL pointer dereference at 0000000000000008 RIP: ",
            "null_pointer",
        ),
        (
            "Unable to handle kernel NULL pointer dereference at virtual address 00000008",
            "null_pointer",
        ),
    ],
)
def test_a_fault_worded_without_bug_is_the_failure_not_its_oops(fault, kind):
    """x86_64 until 2.6.24 and arm print the fault without "BUG: ", before the Oops."""
    stamp = "Mar 14 03:12:07 oel5 kernel: "
    lines = [fault, "Oops: 0000 [1] SMP ", " <0>Kernel panic - not syncing: Fatal exception"]
    result = analyse_lines([("kern.log", [stamp + line for line in lines])])
    assert result["details"]["kind"] == kind
    assert lines_of(result)[0] == 1


def test_same_bug_on_two_kernels_has_one_signature():
    new, old = analyse("bug_ocfs2_bug_new.log"), analyse("bug_ocfs2_bug_old.log")
    assert new["signature"] == old["signature"]
    assert old["details"]["location"] == "fs/ocfs2/dlmglue.c:2793"
    null_new, null_old = analyse("bug_null_pointer_new.log"), analyse("bug_null_pointer_old.log")
    assert null_new["signature"] == null_old["signature"]
    assert null_new["signature"] != new["signature"]
    assert null_old["details"]["function"] == "dlm_lockres_release_ast"
    assert null_old["details"]["module"] == "ocfs2_dlm"


def test_same_bug_with_other_addresses_offsets_and_times_has_one_signature():
    lines = fixture_lines("bug_ocfs2_bug_new.log")

    def shifted(line: str) -> str:
        line = re.sub(r"\[\s*\d+\.\d+\]", "[ 99.000001]", line)
        line = re.sub(r"\+0x[0-9a-f]+/0x[0-9a-f]+", "+0x1/0x999", line)
        return re.sub(r"\b[0-9a-f]{16}\b", "ffff888000000000", line)

    first = analyse_lines([("dom0.log", lines)])
    second = analyse_lines([("kern.log", [shifted(line) for line in lines])])
    assert first["signature"] == second["signature"]
    other = analyse_lines([("dom0.log", fixture_lines("bug_soft_lockup.log"))])
    assert other["signature"] != first["signature"]


def test_null_pointer_without_panic_ends_the_log():
    result = analyse("bug_null_pointer_old.log")
    assert result["details"]["kind"] == "null_pointer"
    assert "panic" not in result["details"]
    assert lines_of(result) == [1, 2]
    assert "reset from outside" in result["explanation"]


def test_soft_lockup_mentioning_watchdog_and_ocfs2_is_a_bug():
    result = analyse("bug_soft_lockup.log")
    details = result["details"]
    assert details["kind"] == "soft_lockup"
    assert (details["cpu"], details["seconds"], details["task"]) == (5, 23, "ocfs2dc-58A89FF")
    assert (details["function"], details["module"]) == ("__ocfs2_cluster_unlock", "ocfs2")
    assert lines_of(result) == [2, 5]


def test_nmi_watchdog_hard_lockup_is_a_bug():
    result = analyse("bug_hard_lockup_nmi.log")
    details = result["details"]
    assert (details["kind"], details["cpu"], details["panic"]) == ("hard_lockup", 9, "Hard LOCKUP")
    assert details["function"] == "_raw_spin_lock_irqsave"
    assert same_time(result, "02-17T06:40:01")


def test_hung_task_names_the_first_meaningful_frame():
    result = analyse("bug_hung_task.log")
    details = result["details"]
    assert (details["kind"], details["task"], details["seconds"]) == (
        "hung_task",
        "ocfs2cmt-7B8A63",
        120,
    )
    assert (details["function"], details["module"]) == ("jbd2_log_wait_commit", "jbd2")
    assert details["frames"][:3] == [
        "jbd2_log_wait_commit",
        "jbd2_journal_flush",
        "ocfs2_commit_cache",
    ]


def test_general_protection_fault_in_bare_lines():
    result = analyse("bug_gpf_bare.log")
    assert result["details"]["kind"] == "general_protection_fault"
    assert result["details"]["function"] == "kmem_cache_alloc"
    assert result["details"]["panic"] == "Fatal exception in interrupt"
    assert result["crash_time"] is None


def test_xen_fatal_trap_reads_the_trace_printed_before_the_panic():
    result = analyse("bug_xen_fatal_trap.log")
    details = result["details"]
    assert (details["kind"], details["where"]) == ("xen_panic", "hypervisor")
    assert details["failure"] == "FATAL TRAP: vector = 14 (page fault)"
    assert details["function"] == "p2m_pod_demand_populate"
    # Xen's "file.c#function" static symbols are named by their function.
    assert "hvm_hap_nested_page_fault" in details["frames"]
    assert lines_of(result) == [4, 24]


def test_xen_nmi_watchdog_is_a_hypervisor_bug_not_xhad():
    result = analyse("bug_xen_cpu_stuck.log")
    details = result["details"]
    assert (details["kind"], details["cpu"]) == ("xen_cpu_stuck", 7)
    assert details["frames"] == [
        "clear_page_sse2",
        "scrub_one_page",
        "alloc_domheap_pages",
        "p2m_pod_cache_add",
    ]


def test_ocfs2_panic_after_a_filesystem_error_is_a_bug():
    result = analyse("bug_ocfs2_panic_forced.log")
    assert result["details"]["kind"] == "kernel_panic"
    assert (result["details"]["function"], result["details"]["module"]) == (
        "ocfs2_handle_error",
        "ocfs2",
    )


def test_a_hang_in_an_earlier_boot_is_not_the_crash():
    result = analyse("bug_after_earlier_hang.log")
    assert result["details"]["kind"] == "kernel_panic"
    assert result["details"]["function"] == "mount_block_root"
    assert lines_of(result) == [7]


def test_peer_death_seen_from_a_survivor_is_no_fence():
    result = analyse("negative_peer_died.log")
    assert result["details"]["kind"] == "unknown"
    assert result["details"]["peers_lost"] == ["xs-host-03"]
    assert result["explanation"].startswith("No crash signature was found in the 1 log(s)")
    assert "peer's failure" in result["explanation"]
    assert result["signature"] == ""


def test_words_in_passing_are_no_failure():
    """A watchdog daemon, kernel.panic sysctls, DEBUG lines and xapi warnings."""
    result = analyse("negative_mentions_only.log")
    assert result["details"]["kind"] == "unknown"
    assert "peers_lost" not in result["details"]
    assert result["evidence"] == []


def test_nothing_found_says_what_evidence_is_missing_not_that_it_was_a_bug(tmp_path):
    """A log alone is no crash dump; a dump whose logs stop minutes before its time lost
    what ended the host."""
    alone = analyse("negative_mentions_only.log")
    assert "so nothing shows a software bug" in alone["explanation"]
    assert alone["details"]["missing"][0].startswith("a crash dump: only a log was given")
    dump = tmp_path / "20261125-101500-UTC"
    dump.mkdir()
    (dump / "dom0.log").write_text(
        "Nov 25 10:00:00 xs-host-02 kernel: [ 100.000000] e1000e: eth0 NIC Link is Up\n"
        "Nov 25 10:02:30 xs-host-02 kernel: [ 250.000000] device vif3.0 entered promiscuous mode\n"
    )
    (dump / "xen-memory-dump").write_bytes(b"\x7fELF\x02\x01\x01" + bytes(4089))
    result = analyse_path(dump)
    assert (result["cause"], result["details"]["kind"]) == ("bug", "unknown")
    assert result["details"]["logs_end"] == "2026-11-25T10:02:30+00:00"
    assert result["details"]["missing"] == [
        "xen.log, the hypervisor's log at the crash",
        "the logs' last 12 minutes: they stop at 10:02:30 UTC, before the time the dump is "
        "named after (10:15:00 UTC)",
    ]
    assert (
        "The logs end at 2026-11-25 10:02:30 UTC with nothing about a crash"
        in (result["explanation"])
    )


# ---------------------------------------------------------------- several logs of one dump


def xen(*messages: str) -> list[str]:
    return [f"(XEN) [ 3390.{i:06d}] {m}" for i, m in enumerate(messages)]


def test_o2cb_panic_and_the_hypervisor_noting_dom0_crashed_is_o2cb():
    result = analyse_lines(
        [
            (
                "dom0.log",
                fixture_lines("o2cb_disk_dmesg_reset.txt")[:6]
                + [
                    "[ 3384.993300] Kernel panic - not syncing: *** ocfs2 is very sorry to be "
                    "fencing this system by panicing ***"
                ],
            ),
            ("xen.log", xen("Hardware Dom0 crashed: Executing crash image")),
        ]
    )
    assert result["cause"] == "o2cb"
    assert result["details"]["fence_method"] == "panic"
    assert {item["file"] for item in result["evidence"]} == {"dom0.log"}


def test_watchdog_fired_for_dom0_wins_over_what_dom0_logged():
    result = analyse_lines(
        [
            ("dom0.log", fixture_lines("bug_soft_lockup.log")),
            (
                "xen.log",
                xen(
                    "Watchdog timer fired for domain 0",
                    "Hardware Dom0 shutdown: watchdog rebooting machine",
                ),
            ),
        ]
    )
    assert result["cause"] == "xhad"
    assert "soft lockup" in result["details"]["dom0_before"]
    assert ("xen.log", 1) in {(e["file"], e["line"]) for e in result["evidence"]}


def test_a_guest_watchdog_is_not_the_host_fence():
    result = analyse_lines([("xen.log", xen("Watchdog timer fired for domain 7"))])
    assert result["cause"] == "bug"
    assert result["details"]["kind"] == "unknown"


def test_dom0_crash_noted_by_xen_takes_its_reason_from_dom0():
    crashed = xen("Hardware Dom0 crashed: rebooting machine in 5 seconds.")
    alone = analyse_lines([("xen.log", crashed)])
    assert (alone["cause"], alone["details"]["kind"]) == ("bug", "xen_dom0_crashed")
    both = analyse_lines(
        [("dom0.log", fixture_lines("bug_ocfs2_bug_new.log")), ("xen.log", crashed)]
    )
    assert both["details"]["kind"] == "kernel_bug"
    assert both["evidence"][0]["file"] == "dom0.log"


def test_lines_may_be_bytes_or_str_with_or_without_line_ends():
    text = fixture_lines("o2cb_disk_syslog_panic.log")
    as_bytes = [(line + "\n").encode() for line in text]
    assert analyse_lines([("a", as_bytes)])["details"] == analyse_lines([("a", text)])["details"]


@pytest.mark.parametrize(
    "name", ["negative_timeout_then_clean_reboot.log", "negative_timeout_then_reboot_console.txt"]
)
def test_heartbeat_timeout_the_host_outlived_is_no_fence(name):
    """With global heartbeat a timeout on one region of three does not fence: the host
    runs on, or is shut down in order (systemd, "reboot: Restarting system"), after it."""
    result = analyse(name)
    assert result["cause"] == "bug"
    assert result["details"]["kind"] == "unknown"
    assert "fenced" not in result["explanation"]
    assert "did not fence" in result["explanation"]


def test_heartbeat_timeout_just_before_the_next_boot_is_still_the_fence():
    lines = fixture_lines("negative_timeout_then_reboot_console.txt")[:4] + [
        "[    0.000000] Linux version 6.1.0-18-amd64 (debian-kernel@lists.debian.org) #1 SMP",
        "[    0.000000] Command line: BOOT_IMAGE=/vmlinuz-6.1.0-18-amd64 ro quiet",
    ]
    result = analyse_lines([("console.txt", lines)])
    assert result["cause"] == "o2cb"
    assert result["details"]["device"] == "sdc"


def test_idle_time_is_seconds_and_unpadded_milliseconds():
    """tcp.c prints the idle time as msecs / 1000 "." msecs % 1000, the milliseconds not
    padded: "30.7 secs" is 30007 ms (with debugfs the time measured, not the timeout)."""
    result = analyse("o2cb_network_debugfs_idle.log")
    details = result["details"]
    assert details["mechanism"] == "network"
    assert (details["node"], details["address"]) == ("deb12-ocfs-a", "192.168.77.10:7777")
    assert details["idle_seconds"] == pytest.approx(30.007)
    assert details["quorum"]["lowest_node"] == 0
    assert result["crash_time"] == "2025-06-18T22:11:07.350230+02:00"
    assert lines_of(result) == [3, 4, 5, 6]


def test_the_next_boot_logging_its_heartbeat_start_does_not_hide_the_crash():
    """A log read after the host came back: the boot that ended badly is the crash, whether
    or not the boot after it logged "Heartbeat started" or "Connected to node"."""
    result = analyse("o2cb_lost_fence_then_next_boot.log")
    assert (result["details"]["mechanism"], result["details"]["device"]) == (
        "disk_heartbeat",
        "dm-6",
    )
    assert lines_of(result) == [3]
    assert same_time(result, "09-03T02:49:05")

    hang = fixture_lines("bug_after_earlier_hang.log")[:3]
    next_boot = fixture_lines("o2cb_lost_fence_then_next_boot.log")[3:]
    result = analyse_lines([("kern.log", hang + next_boot)])
    assert result["details"]["kind"] == "soft_lockup"
    assert lines_of(result)[0] == 1


def test_a_boot_shut_down_in_order_is_not_the_crash():
    """A soft lockup the host lived through, then a planned reboot: nothing crashed."""
    result = analyse("negative_lockup_then_planned_reboot.log")
    assert result["details"]["kind"] == "unknown"
    assert "reset from outside" not in result["explanation"]


def test_a_console_wrapped_at_its_width_is_read_whole():
    """A serial console captured at 80 columns: a line without the stamp its neighbours
    carry continues the one before, cut mid-word or at a space."""
    result = analyse("o2cb_disk_console_wrapped.txt")
    details = result["details"]
    assert (details["mechanism"], details["device"], details["timeout_ms"]) == (
        "disk_heartbeat",
        "dm-9",
        60000,
    )
    assert details["fence_method"] == "panic"
    assert details["region"] == "E0F1A2B3C4"
    # Each message is cited at the line it starts on.
    assert lines_of(result) == [4, 6, 8]


def test_wrapped_panic_reason_and_unstamped_neighbours():
    lines = [
        "[    4.118301] Kernel panic - not syncing: VFS: Unable to mount root fs on unkn",
        "own-block(0,0)",
    ]
    result = analyse_lines([("console.txt", lines)])
    assert result["details"]["failure"].endswith("unknown-block(0,0)")
    # Lines without any stamp are never joined: nothing says where one ends.
    bare = ["Kernel panic - not syncing: Fatal exception", "CPU: 2 PID: 9912 Comm: xcp-rrdd"]
    result = analyse_lines([("bare.txt", bare)])
    assert result["details"]["panic" if "panic" in result["details"] else "failure"].endswith(
        "Fatal exception"
    )


def test_a_panic_whose_reason_is_the_failure_names_the_failure():
    """2.6.36 to 3.x panic with the hard lockup's own words and print no line before."""
    result = analyse("bug_hard_lockup_panic_3x.log")
    details = result["details"]
    assert details["kind"] == "hard_lockup"
    assert details["panic"] == "Watchdog detected hard LOCKUP on cpu 9"
    # The NMI's own frames are not where the CPU was stuck.
    assert details["frames"][:2] == ["o2hb_do_disk_heartbeat", "o2hb_thread"]
    assert "reset from outside" not in result["explanation"]
    assert lines_of(result) == [1]


def without_uptimes(lines: list) -> list:
    """The lines as a syslog without the kernel's own stamps writes them (printk.time=0)."""
    return [re.sub(r"kernel: \[ *\d+\.\d+\] ", "kernel: ", line) for line in lines]


def test_a_boot_is_seen_without_the_kernels_stamps():
    result = analyse_lines(
        [("kern.log", without_uptimes(fixture_lines("bug_after_earlier_hang.log")))]
    )
    assert result["details"]["kind"] == "kernel_panic"
    assert lines_of(result) == [7]


def test_a_heartbeat_timeout_then_the_next_boot_in_a_plain_syslog_is_the_fence():
    """rsyslog's own start lines come before the new boot's "Linux version": minutes after
    the timeout, yet the host did not run on."""
    lines = without_uptimes(fixture_lines("o2cb_lost_fence_then_next_boot.log"))
    lines[3:3] = [
        'Sep  3 02:53:40 xs7-pool-b rsyslogd: [origin software="rsyslogd" x-pid="1288"] start',
        "Sep  3 02:53:40 xs7-pool-b kernel: Initializing cgroup subsys cpuset",
    ]
    result = analyse_lines([("kern.log", lines)])
    assert result["cause"] == "o2cb"
    assert result["details"]["device"] == "dm-6"
