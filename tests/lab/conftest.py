"""The real-kernel lab for tests: three QEMU guests on Debian's kernel and the console's
worker in this process."""

import threading
from pathlib import Path

import pytest
from django.conf import settings

from lab.kernel import GuestKernel, probe_accel
from lab.pool import Lab
from lab.settings import LabSettings
from tests.conftest import ROOT, worker_in_this_process

# make lab's kernel, unpacked once and shared.
KERNEL_DIR = ROOT / "var" / "lab" / "kernel"


@pytest.fixture
def lab_pool(transactional_db, redis_url, tmp_path_factory):
    """A started lab whose agents report to this test session's console queues."""
    from clusters.agents import console_public_key

    # Kept after the run, as pytest keeps its last three: the guests' consoles and disks.
    lab_dir = Path(tmp_path_factory.mktemp("lab", numbered=True))
    kernel = GuestKernel(KERNEL_DIR)
    kernel.prepare()
    lab = Lab.create(
        lab_dir,
        LabSettings(
            hosts=3,
            luns=3,  # three heartbeat regions for the fence rules (test_fence_rules.py)
            accel=probe_accel(kernel),
            redis_url=redis_url,
            console_key=console_public_key(),
            console_queue=settings.CONSOLE_QUEUE,
            report_interval=3.0,
            kernel_dir=str(KERNEL_DIR),
        ),
    )
    stop = threading.Event()

    def restart_exited():
        while not stop.wait(1):
            try:
                said = lab.restart_exited()
            except Exception as exc:  # a keeper that died would strand every later reboot
                said = [f"The lab's keeper: {exc!r}"]
            for line in said:
                print(line)

    with worker_in_this_process([settings.CONSOLE_QUEUE, settings.ROUNDS_QUEUE], 8):
        lab.start()
        keeper = threading.Thread(target=restart_exited, daemon=True)
        keeper.start()
        try:
            yield lab
        finally:
            stop.set()
            keeper.join()
            lab.stop()
