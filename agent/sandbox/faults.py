"""The faults a sandbox host can be given (its I/O paths break and mend on demand)."""

FAULTS = {
    "path-fail": "fail one path (a device name such as sdc)",
    "path-restore": "bring one path back",
    "slave-down": "take a bond slave's link down (eth0 or eth1)",
    "slave-up": "bring a bond slave's link back",
    "heartbeat-slow": "make heartbeat writes late (about 9 s)",
    "heartbeat-stall": "stop heartbeat writes: the lag grows until the host would fence",
    "heartbeat-normal": "heartbeat writes on time again",
    "restore": "undo every fault on the host",
}
