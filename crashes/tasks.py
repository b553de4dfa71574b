"""Celery entry points for crash dumps; each loads its rows and calls one service."""

import logging

from celery import shared_task
from django.utils.dateparse import parse_datetime

from clusters.models import Host
from core.tasks import run_claimed

from . import services
from .choices import CrashSource
from .models import HostCrashdump

logger = logging.getLogger(__name__)


@shared_task(name="console.crash_report", ignore_result=True)
def crash_report(host_uuid: str, dump: dict) -> None:
    host = Host.objects.filter(uuid=host_uuid).first()
    if host is None:
        logger.warning("crash dump %s from unknown host %s ignored", dump.get("name"), host_uuid)
        return
    services.crashdump_record(host=host, dump=dump, source=CrashSource.AGENT)


@shared_task(name="crashes.collect_incident", ignore_result=True)
def collect_incident(crash_id: int) -> None:
    crash = HostCrashdump.objects.filter(pk=crash_id).select_related("host").first()
    if crash is not None:
        services.incident_collect(crash=crash)


@shared_task(name="crashes.check_reboot", ignore_result=True)
def check_reboot(host_id: int, previous_boot: str, boot: str) -> None:
    host = Host.objects.filter(pk=host_id).first()
    if host is not None:
        services.reboot_check(
            host=host, previous_boot=parse_datetime(previous_boot), boot=parse_datetime(boot)
        )


@shared_task(name="crashes.analyse_upload", ignore_result=True)
def analyse_upload(task_id: int) -> None:
    run_claimed(task_id, lambda task: services.crashdump_upload_analyse(task=task))
