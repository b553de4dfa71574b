"""Stack traces: the faulting function and the frames under it, and a stable signature.

Frame lines as Linux and Xen print them::

    ocfs2_foo+0x12/0x340 [ocfs2]                          (x86 since 4.x, arm64)
    ? ocfs2_bar+0x9/0x20 [ocfs2]                          ("?": not reliable, skipped)
    [<ffffffffa04d1234>] ocfs2_foo+0x12/0x340 [ocfs2]      (2.6 to 4.x)
    [<ffffffff88512345>] :ocfs2:ocfs2_foo+0x12/0x340       (2.6.18, module first)
    [<c0123456>] (ocfs2_foo+0x12/0x34) from [<...>] (...)  (32-bit arm)
    [<ffff82d040204c4a>] R clear_page_sse2+0x1a/0x30        (Xen; R/F/S, "file.c#fn")
    <IRQ>  [<ffffffffa04d1234>] ocfs2_foo+0x12/0x340 [ocfs2] (to 4.x, a marker first)

and the faulting instruction: ``RIP: 0010:fn+0x12/0x340 [mod]``, ``RIP: 0010:[<addr>]
[<addr>] fn+...``, ``RIP  [<addr>] fn+...``, ``IP: [<addr>] fn+...`` (the page-fault
report of 2.6 to 4.x), ``EIP is at fn+...``, ``PC is at fn+...``, ``pc : fn+...`` and
Xen's ``RIP:    e008:[<addr>] fn+...``.

The signature hashes the failure's kind, the source file of a BUG() and the top frames
with offsets, addresses, unreliable frames, compiler suffixes (``.isra.0``,
``.constprop.3``, ``.cold``) and the frames every crash shares (``panic``, the exception
entry, the scheduler under a hung task) removed, so the same bug hit on two hosts or two
kernel builds gives the same signature.
"""

import re
from typing import List, Optional, Tuple

# Syslog/ISO stamp, host and tag, then dmesg, Xen and printk-caller stamps and levels.
PREFIX_RE = re.compile(
    r"^(?:<\d+>\d?\s*)?"
    r"(?:(?:[A-Z][a-z]{2}\s+\d{1,2}\s+\d\d:\d\d:\d\d(?:\.\d+)?"
    r"|\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?)"
    r"\s+\S+\s+[\w./@-]+(?:\[\d+\])?:\s)?"
    r"(?:\s*\(XEN\))?(?:\s*<\d+>)?(?:\s*\[\s*\d+\.\d+\])?(?:\s*\[\s*[TC]\d+\])?\s?"
)
SYMBOL = r"(?P<symbol>[^\s+\[\]()<>?]+)\+0x[0-9a-fA-F]+(?:/0x[0-9a-fA-F]+)?"
MODULE = r"(?:\s+\[(?P<module>[\w-]+)(?:\s+[0-9a-f]+)?\])?"
# A stack switch marker; until 4.x printed on the line of the frame after it.
MARKER = r"(?:<<EOE>>|</?(?:IRQ|EOI|TASK|NMI|#DF|SOFTIRQ)>)"
FRAME_RE = re.compile(
    r"^\s*(?:"
    + MARKER
    + r"\s*)?(?:\[<?[0-9a-fA-F]+>?\]\s*)*(?:[0-9a-fA-F]{8,16}\]?\s+)?(?:[RFS]\s+)?"
    r"(?P<unreliable>\?\s*)?\(?" + SYMBOL + MODULE
)
RIP_RE = re.compile(
    r"(?:\b(?:RIP|EIP|IP|PC is at|EIP is at)|\bpc\s?)\s*:?\s*(?:[0-9a-fA-F]{4}:)?"
    r"(?:\[<[0-9a-fA-F]+>\]\s*)*" + SYMBOL + MODULE
)
TRACE_START_RE = re.compile(r"(?:Call [Tt]race|Xen call trace|Backtrace)\s*:", re.IGNORECASE)
# Lines a trace may hold between its frames.
TRACE_MARKER_RE = re.compile(r"^\s*(?:" + MARKER + r"|\s*)$")

SKIPPED_FRAMES = frozenset(
    """
    dump_stack dump_stack_lvl show_stack show_trace_log_lvl show_regs panic vpanic die
    __die die_body oops_end do_trap do_error_trap do_trap_no_signal do_invalid_op invalid_op
    exc_invalid_op asm_exc_invalid_op handle_bug report_bug __warn warn_slowpath_common
    warn_slowpath_null warn_slowpath_fmt do_page_fault __do_page_fault page_fault
    exc_page_fault asm_exc_page_fault do_user_addr_fault no_context bad_area
    bad_area_nosemaphore __bad_area_nosemaphore page_fault_oops kernelmode_fixup_or_oops
    do_kern_addr_fault general_protection do_general_protection exc_general_protection
    asm_exc_general_protection error_entry error_exit ret_from_exception ret_from_fork
    ret_from_fork_asm kthread worker_thread process_one_work entry_SYSCALL_64_after_hwframe
    entry_SYSCALL_64 entry_SYSCALL_64_fastpath system_call_fastpath do_syscall_64
    system_call tracesys syscall_call sysenter_past_esp
    watchdog_timer_fn __hrtimer_run_queues hrtimer_interrupt smp_apic_timer_interrupt
    apic_timer_interrupt sysvec_apic_timer_interrupt __sysvec_apic_timer_interrupt
    asm_sysvec_apic_timer_interrupt xen_timer_interrupt __handle_irq_event_percpu
    handle_irq_event_percpu handle_irq_event irq_exit irq_exit_rcu __do_softirq do_softirq
    call_softirq __irq_exit_rcu xen_evtchn_do_upcall xen_do_hypervisor_callback
    __schedule schedule schedule_timeout schedule_preempt_disabled io_schedule
    io_schedule_timeout bit_wait_io __wait_on_bit out_of_line_wait_on_bit
    wait_for_completion wait_for_completion_io __wait_for_common wait_for_common
    do_wait_for_common __mutex_lock __mutex_lock_slowpath mutex_lock
    rwsem_down_write_slowpath rwsem_down_read_slowpath call_rwsem_down_write_failed
    call_rwsem_down_read_failed down_write down_read __down __down_common down
    show_execution_state fatal_trap do_nmi nmi_watchdog_tick handle_ist_exception
    handle_exception_saved handle_exception kexec_crash machine_crash_shutdown
    watchdog_overflow_callback watchdog_hardlockup_check __perf_event_overflow
    perf_event_overflow intel_pmu_handle_irq amd_pmu_handle_irq perf_event_nmi_handler
    nmi_handle default_do_nmi end_repeat_nmi exc_nmi asm_exc_nmi
    """.split()
)
TOP_FRAMES = 5


def message(text: str) -> str:
    """A log line without its stamps, host, tag and level."""
    return PREFIX_RE.sub("", text, count=1)


def function_name(symbol: str) -> Tuple[str, Optional[str]]:
    """(function, module) of a printed symbol, without Xen's file prefix or clone suffix."""
    module = None
    if symbol.startswith(":") and symbol.count(":") >= 2:
        _, module, symbol = symbol.split(":", 2)
    if "#" in symbol:
        symbol = symbol.rsplit("#", 1)[1]
    return symbol.split(".", 1)[0], module


def parse_frame(text: str) -> Optional[Tuple[str, Optional[str]]]:
    """(function, module) of a reliable frame line; None for other lines and "?" frames."""
    match = FRAME_RE.match(message(text))
    if not match or match["unreliable"]:
        return None
    function, module = function_name(match["symbol"])
    return function, match["module"] or module


def faulting_function(lines: List[str]) -> Optional[Tuple[str, Optional[str], int]]:
    """(function, module, index) of the first RIP/EIP/PC line among `lines`."""
    for index, text in enumerate(lines):
        match = RIP_RE.search(message(text))
        if match:
            function, module = function_name(match["symbol"])
            return function, match["module"] or module, index
    return None


def call_trace(lines: List[str], last: bool = False) -> List[Tuple[str, Optional[str]]]:
    """The reliable frames of the first (or last) call trace among `lines`."""
    starts = [i for i, text in enumerate(lines) if TRACE_START_RE.search(text)]
    if not starts:
        return []
    index = starts[-1] if last else starts[0]
    frames: List[Tuple[str, Optional[str]]] = []
    for text in lines[index + 1 :]:
        body = message(text)
        if TRACE_MARKER_RE.match(body):
            continue
        if FRAME_RE.match(body) is None:
            break
        frame = parse_frame(text)
        if frame:
            frames.append(frame)
    return frames


def top_frames(
    faulting: Optional[Tuple[str, Optional[str]]], frames: List[Tuple[str, Optional[str]]]
) -> List[str]:
    """The first frames that say where the failure is, faulting function first."""
    names: List[str] = []
    for function, _module in ([faulting] if faulting else []) + frames:
        if function in SKIPPED_FRAMES or (names and names[-1] == function):
            continue
        names.append(function)
        if len(names) == TOP_FRAMES:
            break
    return names


# Numbers and hex words (CPUs, PIDs, seconds, addresses), not the digits of a name (ocfs2).
NUMBER_RE = re.compile(r"(?<![A-Za-z_])(?:0x)?[0-9a-fA-F]*\d[0-9a-fA-F]*")


def signature(kind: str, location: Optional[str], frames: List[str], failure: str) -> str:
    """`<hash> <kind>: <frames>`, equal for the same failure on any host and build."""
    if frames:
        basis = frames
        shown = " < ".join(frames)
    else:
        # No trace: the failure's own words without its numbers (addresses, CPUs, PIDs).
        basis = [NUMBER_RE.sub("N", message(failure)).strip()]
        shown = basis[0]
    import hashlib  # here: only bugs need it, and it costs a CLI run some milliseconds

    digest = hashlib.sha256("|".join([kind, location or "", *basis]).encode()).hexdigest()
    where = f" at {location}" if location else ""
    return f"{digest[:12]} {kind}{where}: {shown}"[:200]
