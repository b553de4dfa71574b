from celery import shared_task

from .services.delivery import delivery_attempt, notifications_prune
from .services.routing import snoozes_ended_notify


@shared_task(bind=True, name="notifications.deliver", max_retries=None, ignore_result=True)
def deliver(self, delivery_id: int) -> None:
    """Send one message to one target; the service counts the tries and says when to retry."""
    retry_in = delivery_attempt(delivery_id=delivery_id)
    if retry_in is not None:
        raise self.retry(countdown=retry_in)


@shared_task(name="notifications.prune", ignore_result=True)
def prune() -> None:
    notifications_prune()


@shared_task(name="notifications.snoozes_ended", ignore_result=True)
def snoozes_ended() -> None:
    snoozes_ended_notify()
