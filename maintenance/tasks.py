"""Celery entry points of the maintenance workflows."""

from celery import shared_task

from core.tasks import run_claimed

from . import services, storage


@shared_task(name="maintenance.enter")
def enter(task_id: int) -> None:
    run_claimed(task_id, services.enter_run)


@shared_task(name="maintenance.exit")
def exit_(task_id: int) -> None:
    run_claimed(task_id, services.exit_run)


@shared_task(name="maintenance.rollback")
def rollback(task_id: int) -> None:
    run_claimed(task_id, services.rollback_run)


@shared_task(name="maintenance.add_storage")
def add_storage(task_id: int) -> None:
    run_claimed(task_id, storage.storage_add_run)


@shared_task(name="maintenance.rolling_restart")
def rolling_restart(task_id: int) -> None:
    run_claimed(task_id, services.rolling_restart_run)
