"""Stack frames and faulting functions in the formats Linux and Xen have printed."""

import pytest

from agent.crash.trace import call_trace, faulting_function, parse_frame, signature, top_frames


@pytest.mark.parametrize(
    ("line", "frame"),
    [
        ("[ 12.000001]  ocfs2_foo+0x12/0x340 [ocfs2]", ("ocfs2_foo", "ocfs2")),
        (
            "Nov 25 10:00:00 h kernel: [ 1.5]  link_path_walk.part.41+0x2b3/0x570",
            ("link_path_walk", None),
        ),
        (" [<ffffffffa04d1234>] ocfs2_foo.isra.12+0x12/0x340 [ocfs2]", ("ocfs2_foo", "ocfs2")),
        (" [<ffffffff88512345>] :ocfs2:ocfs2_foo+0x12/0x340", ("ocfs2_foo", "ocfs2")),
        ("[<c0123456>] (dlm_foo+0x12/0x34) from [<c0234567>] (dlm_bar+0x1/0x2)", ("dlm_foo", None)),
        (
            "(XEN)    [<ffff82d040204c4a>] S common/page_alloc.c#scrub_one_page+0x71/0xc0",
            ("scrub_one_page", None),
        ),
        ("(XEN) [  9.1]    [<ffff82c480110c57>] kexec_crash+0x57/0x70", ("kexec_crash", None)),
        (
            "  ocfs2_foo+0x1c/0x40 [ocfs2 2b8f9ad1c3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8]",
            ("ocfs2_foo", "ocfs2"),
        ),
        # Until 4.x the stack switch markers are printed on the line of the next frame.
        (
            " <IRQ>  [<ffffffff8108a1c2>] o2hb_foo+0x22/0x40 [ocfs2_nodemanager]",
            ("o2hb_foo", "ocfs2_nodemanager"),
        ),
        (
            "[ 88.1]  <NMI>  [<ffffffff8150a1b1>] watchdog_overflow_callback+0xac/0xb0",
            ("watchdog_overflow_callback", None),
        ),
        (" <EOI>  [<ffffffff81012a3b>] xen_idle+0x2b/0x40", ("xen_idle", None)),
    ],
)
def test_frames(line, frame):
    assert parse_frame(line) == frame


@pytest.mark.parametrize(
    "line",
    [
        " ? ocfs2_bar+0x9/0x20 [ocfs2]",
        " [<ffffffffa05c4a21>] ? ocfs2_bar+0xc1/0x170 [ocfs2]",
        "RSP: e02b:ffff8800334fbc58  EFLAGS: 00010246",
        "(o2hb-6C0D2A4E50,2917,2):o2hb_write_timeout:290 ERROR: Heartbeat write timeout",
    ],
)
def test_not_reliable_frames(line):
    assert parse_frame(line) is None


@pytest.mark.parametrize(
    ("line", "function", "module"),
    [
        ("RIP: 0010:ocfs2_foo+0x12/0x340 [ocfs2]", "ocfs2_foo", "ocfs2"),
        (
            "RIP: e030:[<ffffffffa05c3f1d>]  [<ffffffffa05c3f1d>] ocfs2_foo+0x7ad/0x7b0 [ocfs2]",
            "ocfs2_foo",
            "ocfs2",
        ),
        ("RIP  [<ffffffffa03a91ed>] dlm_foo+0x1d/0xa0 [ocfs2_dlm]", "dlm_foo", "ocfs2_dlm"),
        ("IP: [<ffffffffa03a91ed>] dlm_foo+0x1d/0xa0 [ocfs2_dlm]", "dlm_foo", "ocfs2_dlm"),
        ("EIP is at ocfs2_foo+0x12/0x34 [ocfs2]", "ocfs2_foo", "ocfs2"),
        ("PC is at ocfs2_foo+0x12/0x34 [ocfs2]", "ocfs2_foo", "ocfs2"),
        ("pc : ocfs2_foo+0x1c/0x40 [ocfs2]", "ocfs2_foo", "ocfs2"),
        (
            "(XEN) RIP:    e008:[<ffff82d08025266d>] common/sched/core.c#sched_wait+0x16c/0x385",
            "sched_wait",
            None,
        ),
    ],
)
def test_faulting_function(line, function, module):
    found = faulting_function(["CPU: 1 PID: 2 Comm: x", "RIP: 0033:0x7f0d3c1f3c2e", line])
    assert found == (function, module, 2)


def test_trace_stops_at_its_end_and_skips_markers():
    lines = [
        "Call Trace:",
        " <IRQ>",
        " megasas_isr+0x3a/0x190 [megaraid_sas]",
        " </IRQ>",
        " <TASK>",
        " ? ignored+0x1/0x2",
        " do_work+0x1/0x2",
        " </TASK>",
        "RIP: 0033:0x7f0d3c1f3c2e",
        " after_the_end+0x1/0x2",
    ]
    assert call_trace(lines) == [("megasas_isr", "megaraid_sas"), ("do_work", None)]


def test_signature_ignores_shared_frames_and_numbers():
    frames = [("panic", None), ("ocfs2_a", "ocfs2"), ("ocfs2_a", "ocfs2"), ("kthread", None)]
    assert top_frames(None, frames) == ["ocfs2_a"]
    first = signature("soft_lockup", None, [], "BUG: soft lockup - CPU#3 stuck for 22s! [a:12]")
    second = signature("soft_lockup", None, [], "BUG: soft lockup - CPU#7 stuck for 61s! [a:99]")
    assert first == second
    assert signature("kernel_bug", "fs/ocfs2/a.c", ["f"], "") != signature(
        "kernel_bug", "fs/ocfs2/b.c", ["f"], ""
    )


def test_a_trace_with_markers_on_its_frames_lines():
    lines = [
        "Call Trace:",
        " <IRQ>  [<ffffffff8108a1c2>] dlm_foo+0x22/0x40 [ocfs2_dlm]",
        " [<ffffffff8108a2c2>] dlm_bar+0x22/0x40 [ocfs2_dlm]",
        " <EOI>  [<ffffffff81012a3b>] xen_idle+0x2b/0x40",
    ]
    assert [f for f, _m in call_trace(lines)] == ["dlm_foo", "dlm_bar", "xen_idle"]
