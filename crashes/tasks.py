"""Celery entry points for crash dumps; each loads its rows and calls one service."""

import logging

from celery import shared_task
from django.utils.dateparse import parse_datetime

from agent import contract as agent_contract
from agent.signing import SealRefused
from clusters.models import Host
from clusters.services.reports import message_refused, open_sealed
from core.errors import ConsoleError
from core.tasks import run_claimed

from . import services
from .choices import CrashSource
from .models import HostCrashdump

logger = logging.getLogger(__name__)


@shared_task(name=agent_contract.CRASH_REPORT, ignore_result=True)
def crash_report(sealed=None, **unsealed) -> None:
    kind = "crash report"
    if sealed is None:
        message_refused(unsealed, kind, "the message is not sealed")
        return
    try:
        host, payload = open_sealed(sealed, agent_contract.CRASH_REPORT_PURPOSE)
    except SealRefused as exc:
        message_refused(sealed, kind, str(exc))
        return
    dump = payload.get("dump")
    name = dump.get("name") if isinstance(dump, dict) else None
    try:
        agent_contract.check_report(host.hostname, payload.get("contract"))
        typed = agent_contract.decode(agent_contract.CrashDump, dump, f"{host}'s crash report")
    except agent_contract.ContractError as exc:
        logger.warning("crash dump %s refused: %s", name, exc)
        return
    services.crashdump_record(
        host=host, dump=agent_contract.encode(typed), source=CrashSource.AGENT
    )


@shared_task(name="crashes.collect_host_dumps", ignore_result=True)
def collect_host_dumps(host_id: int) -> None:
    host = Host.objects.filter(pk=host_id).select_related("pool").first()
    if host is None:
        return
    try:
        services.host_dumps_collect(host=host)
    except ConsoleError as exc:  # asked again at the next crash dump or restart
        logger.warning("crash dumps of %s not collected: %s", host, exc.message)


@shared_task(name="crashes.collect_incident", ignore_result=True)
def collect_incident(crash_id: int) -> None:
    crash = HostCrashdump.objects.filter(pk=crash_id).select_related("host").first()
    if crash is not None:
        services.incident_collect(crash=crash)


@shared_task(name="crashes.check_reboot", ignore_result=True)
def check_reboot(host_id: int, previous_boot: str, boot: str, planned: bool = False) -> None:
    host = Host.objects.filter(pk=host_id).first()
    if host is not None:
        services.reboot_check(
            host=host,
            previous_boot=parse_datetime(previous_boot),
            boot=parse_datetime(boot),
            planned=planned,
        )


@shared_task(name="crashes.analyse_upload", ignore_result=True)
def analyse_upload(task_id: int) -> None:
    run_claimed(task_id, lambda task: services.crashdump_upload_analyse(task=task))
