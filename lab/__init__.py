"""The real-kernel lab: QEMU guests on Debian's kernel, managed by the console (`make lab`)."""
