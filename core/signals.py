"""What core tells the layers above without importing them."""

from django.dispatch import Signal

# An alert changed in a way people are told about: `event` is "raised" (a new incident),
# "escalated" (its priority became more urgent; `previous_priority` says from what) or
# "cleared". Sent once per change, inside the transaction that made it, never for a round
# that finds the same condition again (core.services.alerts).
alert_changed = Signal()

ALERT_RAISED = "raised"
ALERT_ESCALATED = "escalated"
ALERT_CLEARED = "cleared"
