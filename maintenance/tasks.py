"""Celery entry points of the maintenance workflows (each one runs through the step runner)."""

from core.steps import workflow_task

from . import join, services, storage

enter = workflow_task("maintenance.enter", services.enter_run)
exit_ = workflow_task("maintenance.exit", services.exit_run)
rollback = workflow_task("maintenance.rollback", services.rollback_run)
add_storage = workflow_task("maintenance.add_storage", storage.storage_add_run)
rolling_restart = workflow_task("maintenance.rolling_restart", services.rolling_restart_run)
join_host = workflow_task("maintenance.join", join.host_join_run)
reboot = workflow_task("maintenance.reboot", services.reboot_run)
