"""The lab's SAN: shared LUNs, each reached by every guest over two paths.

A LUN is a sparse raw file under `<lab>/san/`. Each path of each guest is its own
`qemu-nbd` export of that file (a path is one connection from one HBA, as an FC or iSCSI
path is), so a path can fail alone: stopping its server (SIGSTOP) stalls it, as a
switch that stops forwarding does; killing it fails it, as a pulled cable does. The
guest sees each path as a SCSI disk with the LUN's WWN; multipathd joins them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from .kernel import LabError

PATHS = 2


@dataclass(frozen=True)
class Lun:
    index: int
    size_bytes: int

    @property
    def name(self) -> str:
        return f"lun{self.index}"

    @property
    def wwn(self) -> str:
        return f"0x5000c50000{self.index:06x}"

    @property
    def wwid(self) -> str:
        """What multipath names the map: NAA type 3 and the WWN."""
        return f"3{self.wwn[2:]}"


def _alive(pid_file: Path) -> int | None:
    """The pid in pid_file when that process still runs and is the one the file names."""
    try:
        pid = int(pid_file.read_text())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None
    return pid if str(pid_file.with_suffix(".nbd")).encode() in cmdline else None


class San:
    """The LUN files and the path servers. Stateless beyond its files (each server's pid
    file beside its socket), so `python -m lab fault` and the console's Faults page can
    act on a lab that another process runs."""

    def __init__(self, lab_dir: Path, luns: int = 2, size_bytes: int = 1 << 30):
        self.dir = (lab_dir / "san").resolve()
        self.luns = [Lun(i, size_bytes) for i in range(luns)]

    def create(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        for lun in self.luns:
            path = self.dir / f"{lun.name}.raw"
            if not path.exists():
                with open(path, "wb") as handle:
                    handle.truncate(lun.size_bytes)

    def socket(self, guest, lun: Lun, path: int) -> Path:
        return (guest.dir / f"{lun.name}-path{path}.nbd").resolve()

    def _pid_file(self, guest, lun: Lun, path: int) -> Path:
        return self.socket(guest, lun, path).with_suffix(".pid")

    def _start_server(self, guest, lun: Lun, path: int) -> None:
        sock = self.socket(guest, lun, path)
        sock.unlink(missing_ok=True)
        image = (
            f"driver=raw,file.driver=file,file.filename={self.dir / lun.name}.raw,file.locking=off"
        )
        process = subprocess.Popen(
            ["qemu-nbd", "--image-opts", image, "--socket", str(sock), "--persistent"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=open(guest.dir / "nbd.log", "ab"),
            start_new_session=True,  # Ctrl-C in the lab's terminal is the lab's to handle
        )
        self._pid_file(guest, lun, path).write_text(str(process.pid))
        deadline = time.monotonic() + 10
        while not sock.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise LabError(f"qemu-nbd for {guest.name} {lun.name} path {path} did not start.")
            time.sleep(0.05)

    def serve(self, guest) -> None:
        """Every path of every LUN for this guest, started where not running."""
        for lun in self.luns:
            for path in range(PATHS):
                if _alive(self._pid_file(guest, lun, path)) is None:
                    self._start_server(guest, lun, path)

    def qemu_arguments(self, guest) -> list[str]:
        arguments = []
        for path in range(PATHS):
            arguments += ["-device", f"virtio-scsi-pci,id=hba{path}"]
        for lun in self.luns:
            for path in range(PATHS):
                node = f"{lun.name}p{path}"
                arguments += [
                    "-blockdev",
                    f"driver=nbd,node-name={node},server.type=unix,"
                    f"server.path={self.socket(guest, lun, path)},reconnect-delay=1",
                    "-device",
                    f"scsi-hd,bus=hba{path}.0,scsi-id={lun.index},lun=0,drive={node},"
                    f"wwn={lun.wwn},serial=LAB{lun.index:04d},vendor=O2LAB,product=SANLUN",
                ]
        return arguments

    def lun(self, name: str) -> Lun:
        for lun in self.luns:
            if name in (lun.name, lun.wwid, str(lun.index)):
                return lun
        names = ", ".join(lun.name for lun in self.luns)
        raise LabError(f"No LUN {name}: the lab has {names}.")

    def _server(self, guest, lun: Lun, path: int) -> int:
        if not 0 <= path < PATHS:
            raise LabError(f"A path is 0 or 1, not {path}.")
        pid = _alive(self._pid_file(guest, lun, path))
        if pid is None:
            raise LabError(f"{guest.name}'s path {path} to {lun.name} is down already.")
        return pid

    def stall(self, guest, lun: Lun, path: int) -> None:
        os.kill(self._server(guest, lun, path), signal.SIGSTOP)

    def fail(self, guest, lun: Lun, path: int) -> None:
        pid = self._server(guest, lun, path)
        os.kill(pid, signal.SIGKILL)
        self._pid_file(guest, lun, path).unlink(missing_ok=True)

    def restore(self, guest, lun: Lun, path: int) -> None:
        pid = _alive(self._pid_file(guest, lun, path))
        if pid is not None:
            os.kill(pid, signal.SIGCONT)
        else:
            self._start_server(guest, lun, path)

    def stop(self, guest) -> None:
        for lun in self.luns:
            for path in range(PATHS):
                pid = _alive(self._pid_file(guest, lun, path))
                if pid is not None:
                    os.kill(pid, signal.SIGKILL)
                self._pid_file(guest, lun, path).unlink(missing_ok=True)
