"""One try of a delivery, and what it leaves in the delivery log."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ..choices import DeliveryStatus
from ..models import Delivery, DeliveryAttempt, Notification
from ..transports import Answer, send


def retry_delay(attempt: int) -> float:
    """Seconds before the try after `attempt` (1, 2, ...): doubling, up to the maximum."""
    return min(
        settings.NOTIFY_RETRY_BACKOFF * 2 ** (attempt - 1), settings.NOTIFY_RETRY_BACKOFF_MAX
    )


def _claim(delivery_id: int) -> tuple[Delivery, int] | None:
    with transaction.atomic():
        delivery = (
            Delivery.objects.select_for_update()
            .filter(pk=delivery_id, status=DeliveryStatus.PENDING)
            .first()
        )
        if delivery is None:  # delivered, failed, or gone with its target
            return None
        delivery.attempts += 1
        delivery.next_attempt = None
        delivery.save(update_fields=["attempts", "next_attempt"])
        return delivery, delivery.attempts


def delivery_record(
    *, delivery: Delivery, number: int, answer: Answer, retries: int | None = None
) -> float | None:
    """Log the try and move the delivery on; returns seconds until the next try, or None."""
    retries = settings.NOTIFY_RETRIES if retries is None else retries
    retry_in = None
    if answer.ok:
        delivery.status, delivery.delivered = DeliveryStatus.DELIVERED, timezone.now()
    elif answer.permanent or number > retries:
        delivery.status = DeliveryStatus.FAILED
    else:
        retry_in = retry_delay(number)
        delivery.next_attempt = timezone.now() + timezone.timedelta(seconds=retry_in)
    delivery.last_answer = answer.text
    with transaction.atomic():
        DeliveryAttempt.objects.create(
            delivery=delivery, number=number, ok=answer.ok, answer=answer.text, retry_in=retry_in
        )
        delivery.save(update_fields=["status", "delivered", "next_attempt", "last_answer"])
    return retry_in


def delivery_attempt(*, delivery_id: int) -> float | None:
    """Send a pending delivery once; returns seconds until it is tried again, or None when
    it is done (delivered, or failed for good)."""
    claimed = _claim(delivery_id)
    if claimed is None:
        return None
    delivery, number = claimed
    if not delivery.target.enabled:  # disabled while the message waited
        answer = Answer(False, "not sent: the target is disabled", permanent=True)
    else:
        answer = send(
            target=delivery.target, body=delivery.notification.body, delivery_id=delivery.pk
        )
    return delivery_record(delivery=delivery, number=number, answer=answer)


def notifications_prune() -> int:
    """Forget messages (and their delivery log) older than NOTIFY_LOG_DAYS."""
    before = timezone.now() - timezone.timedelta(days=settings.NOTIFY_LOG_DAYS)
    deleted, _ = Notification.objects.filter(created__lt=before).delete()
    return deleted
