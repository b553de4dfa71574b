"""The faults a sandbox host can be given (its I/O paths break and mend on demand)."""

FAULTS = {
    "path-fail": "fail one path (a device name such as sdc)",
    "path-restore": "bring one path back",
    "slave-down": "take a bond slave's link down (eth0 or eth1)",
    "slave-up": "bring a bond slave's link back",
    "heartbeat-slow": "make heartbeat writes late (about 9 s)",
    "heartbeat-stall": "stop heartbeat writes: the lag grows until the host would fence",
    "heartbeat-normal": "heartbeat writes on time again",
    "power-off": "the host goes dark: its agent answers nothing and reports nothing",
    "power-on": "the host is back (give it from the command line: its agent does not answer)",
    "restore": "undo every fault on the host",
}

# The mark of a sandbox host that is powered off (fault power-off).
POWERED_OFF_FILE = "etc/sandbox/powered-off"
