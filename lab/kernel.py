"""The guests' kernel: Debian's own, taken from its package, and a small initramfs.

Nothing is downloaded but Debian's `linux-image-amd64` package (its current dependency,
a `linux-image-6.1.0-N-amd64`; the `-cloud` flavour has no ocfs2). The package is
unpacked with `dpkg-deb -x`, `depmod` indexes its modules, and the initramfs holds only
busybox, the modules that reach the machine's files (virtio, 9p, overlay, ext4) and
stage 1 of the guest's start (lab/guest/init). Everything else a guest runs is the
machine's own files, seen read-only through virtio-9p.
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
from pathlib import Path

GUEST_DIR = Path(__file__).resolve().parent / "guest"
# What stage 1 loads, in this order's dependency closure (modprobe --show-depends).
INITRAMFS_MODULES = ("virtio_pci", "9pnet_virtio", "9p", "overlay", "virtio_blk", "ext4")
BUSYBOX = Path("/bin/busybox")


class LabError(Exception):
    """A clear reason the lab cannot start or a fault cannot be applied."""


def _run(*command: str, cwd: Path | None = None) -> str:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise LabError(f"{command[0]} failed: {(result.stderr or result.stdout).strip()}")
    return result.stdout


def kernel_package() -> str:
    """The package `linux-image-amd64` depends on now, e.g. linux-image-6.1.0-50-amd64."""
    for line in _run("apt-cache", "depends", "linux-image-amd64").splitlines():
        line = line.strip()
        if line.startswith("Depends: linux-image-"):
            return line.split()[1]
    raise LabError("apt-cache names no kernel for linux-image-amd64 (run apt-get update).")


class GuestKernel:
    """The unpacked kernel in its own directory (make lab's is var/lab/kernel/, which the
    lab tests share): vmlinuz, modules and the initramfs."""

    def __init__(self, kernel_dir: Path):
        self.dir = kernel_dir.resolve()

    @property
    def release(self) -> str:
        found = sorted((self.dir / "tree" / "lib" / "modules").glob("*"))
        if not found:
            raise LabError("The guest kernel is not unpacked yet.")
        return found[-1].name

    @property
    def vmlinuz(self) -> Path:
        return self.dir / "tree" / "boot" / f"vmlinuz-{self.release}"

    @property
    def modules(self) -> Path:
        return self.dir / "tree" / "lib" / "modules" / self.release

    @property
    def initramfs(self) -> Path:
        return self.dir / "initramfs.cpio.gz"

    def prepare(self) -> None:
        """Unpack the kernel once; build the initramfs again when stage 1 changed."""
        if not (self.dir / "tree" / "boot").is_dir():
            self._unpack()
        stamp = self.dir / "initramfs.source"
        source = (GUEST_DIR / "init").read_text()
        if not self.initramfs.exists() or not stamp.exists() or stamp.read_text() != source:
            self._build_initramfs()
            stamp.write_text(source)

    def _unpack(self) -> None:
        package = kernel_package()
        download = self.dir / "download"
        shutil.rmtree(download, ignore_errors=True)
        download.mkdir(parents=True)
        _run("apt-get", "download", package, cwd=download)
        debs = sorted(download.glob("*.deb"))
        if not debs:
            raise LabError(f"apt-get download {package} left no package.")
        tree = self.dir / "tree.partial"
        shutil.rmtree(tree, ignore_errors=True)
        _run("dpkg-deb", "-x", str(debs[0]), str(tree))
        release = sorted((tree / "lib" / "modules").glob("*"))[-1].name
        _run("depmod", "-b", str(tree), release)
        tree.rename(self.dir / "tree")
        shutil.rmtree(download)

    def _stage1_modules(self) -> list[Path]:
        ordered: list[Path] = []
        for name in INITRAMFS_MODULES:
            shown = _run(
                "modprobe", "-d", str(self.dir / "tree"), "-S", self.release, "--show-depends", name
            )
            for line in shown.splitlines():
                words = line.split()
                if words and words[0] == "insmod" and Path(words[1]) not in ordered:
                    ordered.append(Path(words[1]))
        return ordered

    def _build_initramfs(self) -> None:
        if not BUSYBOX.exists():
            raise LabError("busybox is missing: apt-get install busybox-static.")
        modules = self._stage1_modules()
        # The kernel unpacks a "newc" cpio archive, which cpio(1) writes.
        staging = self.dir / "initramfs.partial"
        shutil.rmtree(staging, ignore_errors=True)
        for sub in ("bin", "dev", "proc", "sys", "mods", "lower", "persist", "newroot"):
            (staging / sub).mkdir(parents=True)
        shutil.copy2(BUSYBOX, staging / "bin" / "busybox")
        shutil.copy2(GUEST_DIR / "init", staging / "init")
        (staging / "init").chmod(0o755)
        for module in modules:
            shutil.copy2(module, staging / "mods" / module.name)
        (staging / "mods" / "order").write_text("".join(f"{m.name}\n" for m in modules))
        names = sorted(str(p.relative_to(staging)) for p in staging.rglob("*"))
        archive = subprocess.run(
            ["cpio", "--quiet", "-o", "-H", "newc", "--owner=0:0"],
            cwd=staging,
            input=("\n".join(names) + "\n").encode(),
            capture_output=True,
        )
        if archive.returncode != 0:
            raise LabError(f"cpio failed: {archive.stderr.decode(errors='replace').strip()}")
        partial = self.initramfs.with_suffix(".partial")
        partial.write_bytes(gzip.compress(archive.stdout, compresslevel=1))
        partial.rename(self.initramfs)
        shutil.rmtree(staging)


def probe_accel(kernel: GuestKernel, timeout: float = 20) -> str:
    """ "kvm" when a probe boot under KVM reaches stage 1 and powers off, else "tcg".

    /dev/kvm can open and still leave guests hung after the bootloader, so only a boot
    that finishes proves it; the verdict is kept per kernel release.
    """
    verdict = kernel.dir / f"accel-{kernel.release}"
    if verdict.exists():
        return verdict.read_text().strip()
    result = "tcg"
    if Path("/dev/kvm").exists():
        command = [
            "qemu-system-x86_64", "-accel", "kvm", "-cpu", "host", "-m", "256",
            "-nodefaults", "-display", "none", "-no-reboot", "-serial", "stdio",
            "-kernel", str(kernel.vmlinuz), "-initrd", str(kernel.initramfs),
            "-append", "console=ttyS0 panic=1 lab.probe",
        ]  # fmt: skip
        try:
            probe = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
            if "lab: probe boot ok" in probe.stdout:
                result = "kvm"
        except subprocess.TimeoutExpired:
            pass
    verdict.write_text(result + "\n")
    return result
