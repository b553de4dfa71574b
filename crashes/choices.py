from django.db import models


class CrashCause(models.TextChoices):
    # The design's Host_crashdump.cause values.
    O2CB = "o2cb", "Fenced by O2CB"
    XHAD = "xhad", "Fenced by the Xen watchdog (HA)"
    BUG = "bug", "Software bug"


# A `bug` in which the analyser found no crash signature: the pages never call it a bug.
NO_SIGNATURE = "No crash signature found"


class CrashSource(models.TextChoices):
    AGENT = "agent", "Found on the host by its agent"
    UPLOAD = "upload", "Uploaded by an admin"
    PEERS = "peers", "No dump: explained from what the other hosts logged"
