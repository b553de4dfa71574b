"""One lab guest: a QEMU process running Debian's kernel as a host of the pool.

Each guest has
- its own persistent disk (`root.ext4`, the overlay over the machine's files), so
  cluster.conf, the agent's key and /var/crash survive a reboot as on a real host;
- an admin NIC on QEMU's user network, through which its agent reaches the console's
  Redis on the machine (10.0.2.2 is the machine's loopback);
- two NICs on the lab's cluster switch (a multicast socket network), bonded
  active-backup in the guest;
- every shared LUN over two virtio-scsi HBAs, each path its own NBD connection to the
  SAN (lab/san.py), with one WWN, so multipathd builds one map with two paths.

QEMU runs with -no-reboot: a reset (an O2CB fence, a panic, a planned reboot) ends the
process, and the lab starts the guest again with a new console log, the old one kept as
the last boot's evidence (lab/guest/boot).
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from qemu.qmp.legacy import QEMUMonitorProtocol

from .kernel import GUEST_DIR, GuestKernel, LabError
from .settings import guest_redis_url

REPO = Path(__file__).resolve().parent.parent
ADMIN_ADDRESS = "10.0.2.15/24"
GATEWAY = "10.0.2.2"  # QEMU's user network: the machine itself
ROOT_DISK_BYTES = 512 * 1024 * 1024


class Guest:
    def __init__(self, lab_dir: Path, index: int, kernel: GuestKernel, san, settings):
        self.index = index
        self.name = f"lab-{index:02d}"
        self.dir = (lab_dir / self.name).resolve()
        self.kernel = kernel
        self.san = san
        self.settings = settings
        self.process: subprocess.Popen | None = None
        self.boots = 0
        self.planned_stop = False
        self._reset_seen: float | None = None

    # Files -----------------------------------------------------------------------------

    @property
    def qmp_socket(self) -> Path:
        return self.dir / "qmp.sock"

    @property
    def control_socket(self) -> Path:
        """A serial line into the guest: what an admin's shell on the host would do."""
        return self.dir / "control.sock"

    @property
    def console_log(self) -> Path:
        return self.dir / f"console-{self.boots:03d}.log"

    @property
    def cluster_address(self) -> str:
        return f"10.77.0.{10 + self.index}"

    @property
    def machine_id(self) -> str:
        return uuid.uuid5(uuid.NAMESPACE_URL, f"o2cb-lab:{self.dir.resolve()}").hex

    @property
    def uuid(self) -> str:
        return str(uuid.UUID(hex=self.machine_id))

    def _prepare_disk(self) -> None:
        disk = self.dir / "root.ext4"
        if disk.exists():
            return
        partial = disk.with_suffix(".partial")
        with open(partial, "wb") as handle:
            handle.truncate(ROOT_DISK_BYTES)
        result = subprocess.run(
            ["mkfs.ext4", "-q", "-F", "-L", self.name, str(partial)], capture_output=True, text=True
        )
        if result.returncode != 0:
            raise LabError(f"mkfs.ext4 of {self.name}'s disk failed: {result.stderr.strip()}")
        partial.rename(disk)

    def _write_env(self, previous_console: Path | None) -> Path:
        values = {
            "LAB_NAME": self.name,
            "LAB_MACHINE_ID": self.machine_id,
            "LAB_RELEASE": self.kernel.release,
            "LAB_MODULES": str(self.kernel.modules.resolve()),
            "LAB_REPO": str(REPO),
            "LAB_PYTHON": str(REPO / ".venv" / "bin" / "python"),
            "LAB_ADMIN_ADDRESS": ADMIN_ADDRESS,
            "LAB_GATEWAY": GATEWAY,
            "LAB_CLUSTER_ADDRESS": self.cluster_address,
            "LAB_HEARTBEAT_THRESHOLD": self.settings.timeouts.heartbeat_threshold,
            "LAB_IDLE_TIMEOUT_MS": self.settings.timeouts.idle_timeout_ms,
            "LAB_SCSI_TIMEOUT": self.settings.timeouts.scsi_timeout,
            "LAB_REPORT_INTERVAL": self.settings.report_interval,
            "LAB_PREVIOUS_CONSOLE": str(previous_console.resolve()) if previous_console else "",
            # The agent's own settings (agent/worker.py, agent/host.py).
            "REDIS_URL": guest_redis_url(self.settings.redis_url),
            "AGENT_CONSOLE_KEY": self.settings.console_key,
            "AGENT_ADDRESSES": self.cluster_address,
            "CONSOLE_QUEUE": self.settings.console_queue,
            "AGENT_REBOOT_COMMAND": "kill -USR1 1",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        path = self.dir / "guest.env"
        path.write_text("".join(f"{key}='{value}'\n" for key, value in values.items()))
        return path

    # QEMU ------------------------------------------------------------------------------

    def command(self, env_file: Path) -> list[str]:
        mac = f"52:54:00:{self.index:02x}"
        command = [
            "qemu-system-x86_64",
            "-name",
            self.name,
            "-machine",
            "pc",
            "-accel",
            self.settings.accel,
            "-cpu",
            "max" if self.settings.accel == "tcg" else "host",
            "-m",
            str(self.settings.memory_mb),
            "-smp",
            "1",
            "-nodefaults",
            "-display",
            "none",
            "-no-reboot",
            "-kernel",
            str(self.kernel.vmlinuz),
            "-initrd",
            str(self.kernel.initramfs),
            "-append",
            " ".join(
                [
                    "console=ttyS0",
                    "panic=1",
                    "net.ifnames=0",
                    "mitigations=off",
                    f"lab.stage2={GUEST_DIR / 'boot'}",
                    f"lab.env={env_file.resolve()}",
                ]
            ),
            "-chardev",
            f"file,id=serial,path={self.console_log}",
            "-serial",
            "chardev:serial",
            "-qmp",
            f"unix:{self.qmp_socket},server=on,wait=off",
            "-device",
            "virtio-serial-pci",
            "-chardev",
            f"socket,id=control,path={self.control_socket},server=on,wait=off",
            "-device",
            "virtserialport,chardev=control,name=lab.control",
            "-virtfs",
            "local,path=/,mount_tag=machine,security_model=none,readonly=on,multidevs=remap",
            "-drive",
            f"if=virtio,format=raw,file={self.dir / 'root.ext4'}",
            "-netdev",
            "user,id=admin,net=10.0.2.0/24,restrict=off",
            "-device",
            f"virtio-net-pci,netdev=admin,mac={mac}:00:00",
        ]
        for slave in (1, 2):
            command += [
                "-netdev",
                f"socket,id=cluster{slave},mcast=230.0.77.1:{self.settings.switch_port},"
                "localaddr=127.0.0.1",
                "-device",
                f"virtio-net-pci,netdev=cluster{slave},id=nic{slave},mac={mac}:01:{slave:02x}",
            ]
        command += self.san.qemu_arguments(self)
        return command

    def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self._prepare_disk()
        self.san.serve(self)
        previous = self.console_log if self.boots and self.console_log.exists() else None
        self.boots += 1
        try:
            command = self.command(self._write_env(previous))
            self.qmp_socket.unlink(missing_ok=True)
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=open(self.dir / "qemu.log", "ab"),
                start_new_session=True,  # Ctrl-C is the lab's to handle, not each guest's
            )
        except BaseException:
            # No boot: a start tried again (the lab's keeper does) still hands the guest
            # the last boot's console as that boot's evidence.
            self.boots -= 1
            raise
        self.planned_stop = False
        self._reset_seen = None

    def reset_seen(self, now: float) -> float:
        """Seconds since this boot's reset was first seen (0 on first sight)."""
        if self._reset_seen is None:
            self._reset_seen = now
        return now - self._reset_seen

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        self.planned_stop = True
        if self.running():
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    # Monitor ---------------------------------------------------------------------------

    def qmp(self, command: str, **arguments) -> object:
        """One QMP command to this guest's QEMU (pause, links, status)."""
        deadline = time.monotonic() + 10
        while not self.qmp_socket.exists():
            if time.monotonic() > deadline or not self.running():
                raise LabError(f"{self.name} is not running.")
            time.sleep(0.1)
        # The QMP client runs an asyncio loop of its own: in a thread of its own, so that a
        # caller already inside a loop (a test's browser, an async server) is no matter.
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(self._qmp, command, arguments).result()

    def _qmp(self, command: str, arguments: dict) -> object:
        monitor = QEMUMonitorProtocol(os.fspath(self.qmp_socket))
        try:
            monitor.connect()
            return monitor.cmd(command, **arguments)
        except OSError as exc:
            raise LabError(f"{self.name}'s monitor did not answer: {exc}") from exc
        finally:
            monitor.close()

    def tell(self, command: str) -> None:
        """Send a command to the guest's control line (lab/guest/boot reads it)."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as line:
            try:
                line.connect(os.fspath(self.control_socket))
                line.sendall(command.encode() + b"\n")
                # The guest reads only while the line is open: hold it until it has.
                time.sleep(2)
            except OSError as exc:
                raise LabError(f"{self.name}'s control line did not answer: {exc}") from exc

    def console_text(self) -> str:
        try:
            return self.console_log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def console_tail(self, lines: int) -> str:
        """The last lines of the current boot's console."""
        return "\n".join(self.console_text().splitlines()[-lines:])
