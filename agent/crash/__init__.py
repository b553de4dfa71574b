"""Why a host crashed: fenced by O2CB, fenced by XenServer HA (xhad), or a software bug.

Reads a crash dump directory (``/var/crash/<time>/``: ``xen.log``, ``dom0.log``,
``xen-crashdump-analyser.log``; memory images are skipped), one log (kern.log, dmesg,
syslog, console text, ``xha.log``) or an archive of either, and returns::

    {"cause": "o2cb" | "xhad" | "bug", "explanation": str,
     "evidence": [{"file", "line", "text"}], "crash_time": ISO 8601 | None,
     "details": {...}, "signature": str, "files": [{"file", "read", ...}]}

Formats learnt from the sources that print them:

* O2CB, ``fs/ocfs2/cluster/``: ``quorum.c`` (``*** ocfs2 is very sorry to be fencing
  this system by restarting ***``, or ``by panicing ***`` through ``panic()``, spelt
  ``panicking`` since 6.13 and without the stars before 2.6.28; ``fencing this node
  because it is only connected to N nodes and M is needed to make a quorum out of H
  heartbeating nodes`` or ``... connected to a half-quorum of N out of H nodes which
  doesn't include the lowest active node L``), ``heartbeat.c`` (``Heartbeat write timeout
  to device dm-3 after 60000 milliseconds``, the device as ``hr_dev_name`` then ``%pg``;
  ``stopping heartbeat on all active regions.``; ``o2hb: node N hb write hung for Ns on
  region R (dm-3).``), ``tcp.c`` (``o2net: connection to node X (num N) at IP:port has
  been idle for 30.0 seconds, shutting it down.`` until 3.1, ``o2net: Connection to node X
  (num N) at IP:port has been idle for 30.500 secs.`` since) and ``masklog.c`` (mlog's
  prefix: ``(comm,pid,cpu):function:line ERROR:``, ``(pid,cpu):function:line ERROR:``
  before 2.6.25).
* Xen, ``xen/common/sched/core.c`` (``schedule.c`` before 4.13): ``Watchdog timer fired
  for domain 0``, since 4.21 ``Watchdog timer 1 fired for d0``; ``xen/common/shutdown.c``:
  ``Hardware Dom0 shutdown: watchdog rebooting machine`` (``Domain 0 shutdown: watchdog
  rebooting machine.`` before 4.5) and ``Hardware Dom0 crashed: ...``; panics: ``Panic
  on CPU N:`` then ``FATAL TRAP: ...``, ``Xen BUG at file.c:N`` or ``Assertion '...'
  failed at ...``, after ``Xen call trace:``; the NMI watchdog's ``Watchdog timer
  detects that CPU1 is stuck!``.
* XenServer HA: xha's ``self_fence()`` logs its reason ending ``- Self-Fence`` then
  ``watchdog_selffence.``; its watchdog check logs ``Watchdog should have expired id=N
  label=L.``; xapi logs ``Host will self-fence via its own watchdog for safety``.
* Linux oopses and lockups (``kernel BUG at``, ``Kernel BUG at`` on x86_64 until 2.6.19,
  ``BUG: unable to handle kernel NULL pointer dereference`` / ``BUG: kernel NULL pointer
  dereference``, ``Unable to handle kernel ...`` on x86_64 until 2.6.24 and arm, ``general
  protection fault``, ``Oops:`` (counted ``[1]`` on old x86_64, ``[#1]`` since), ``BUG:
  soft lockup``, ``Watchdog detected hard LOCKUP``, ``INFO: task ... blocked for more than
  N seconds``, ``Kernel panic - not syncing:``), with the trace formats described in
  ``trace.py``.
* An orderly end, which no fence prints: ``reboot: Restarting system`` (``Restarting
  system.`` before 3.11), systemd's ``Reached target Shutdown.``, systemd-shutdown's
  ``Rebooting.``, sysvinit's ``shutting down for system reboot``. A boot that ends so is
  no crash, and a heartbeat timeout the host outlived did not fence (global heartbeat
  fences only when half of the regions time out).

Times: syslog's, ISO 8601 (journalctl's, ``dmesg --time-format=iso``), ``dmesg -T``'s
ctime; dmesg's own stamps are seconds since boot.

A console captured at a fixed width cuts long lines: in a log whose lines carry a stamp,
a line without one continues the line before, and a message is read across the cut.
"""

from agent.crash.analyse import analyse_lines, analyse_path
from agent.crash.archive import CrashInputError, UnsafeArchiveError

__all__ = ["CrashInputError", "UnsafeArchiveError", "analyse_lines", "analyse_path"]
