"""Celery entry points for crash dumps; each loads its rows and calls one service."""

import logging

from celery import shared_task
from django.utils.dateparse import parse_datetime

from agent import contract as agent_contract
from clusters.models import Host

from . import services
from .choices import CrashSource
from .models import HostCrashdump

logger = logging.getLogger(__name__)


@shared_task(name=agent_contract.CRASH_REPORT, ignore_result=True)
def crash_report(host_uuid: str, dump: dict, contract: int | None = None) -> None:
    host = Host.objects.filter(uuid=host_uuid).first()
    name = dump.get("name") if isinstance(dump, dict) else None
    if host is None:
        logger.warning("crash dump %s from unknown host %s ignored", name, host_uuid)
        return
    try:
        agent_contract.check_report(host.hostname, contract)
        typed = agent_contract.decode(agent_contract.CrashDump, dump, f"{host}'s crash report")
    except agent_contract.ContractError as exc:
        logger.warning("crash dump %s refused: %s", name, exc)
        return
    services.crashdump_record(
        host=host, dump=agent_contract.encode(typed), source=CrashSource.AGENT
    )


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
