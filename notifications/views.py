"""Pages for pool-admins: targets (with the test button), rules, silences, the log."""

from django.contrib import messages
from django.core.exceptions import BadRequest
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from clusters.models import Host
from core.decorators import role_required
from core.errors import ConsoleError
from core.permissions import ADMINISTER
from maintenance.models import HostMaintenance

from .choices import DeliveryStatus
from .forms import RuleForm, TargetForm, target_initial
from .models import Delivery, HostSilence, NotificationRule, NotificationTarget
from .services import config

PAGE_SIZE = 50


def _deliveries(**filters):
    return (
        Delivery.objects.filter(**filters)
        .select_related("target", "notification__alert")
        .prefetch_related("tries")
    )


def _save_form(request, form, save, done: str):
    """Run `save(form)` for a valid form; a refusal lands beside what was typed."""
    if not form.is_valid():
        return None, 400
    try:
        saved = save(form)
    except ConsoleError as exc:
        form.add_error(None, exc.message)
        return None, exc.status_code
    messages.success(request, done)
    return saved, 200


@role_required(ADMINISTER)
def target_list(request):
    form = TargetForm(request.POST or None)
    status = 200
    if request.method == "POST":
        saved, status = _save_form(
            request,
            form,
            lambda f: config.target_create(actor=request.user, **f.cleaned_data),
            "Target created.",
        )
        if saved:
            return redirect("notification-target-detail", saved.pk)
    targets = NotificationTarget.objects.all()
    return render(
        request, "notifications/target_list.html", {"targets": targets, "form": form}, status=status
    )


@role_required(ADMINISTER)
def target_detail(request, pk: int):
    target = get_object_or_404(NotificationTarget, pk=pk)
    status = 200
    if request.method == "POST" and "delete" in request.POST:
        config.target_delete(actor=request.user, target=target)
        messages.success(request, f"Target {target.name} deleted.")
        return redirect("notification-target-list")
    form = TargetForm(request.POST or None, initial=target_initial(target))
    if request.method == "POST":
        saved, status = _save_form(
            request,
            form,
            lambda f: config.target_update(actor=request.user, target=target, **f.service_fields()),
            "Target saved.",
        )
        if saved:
            return redirect("notification-target-detail", target.pk)
    page = Paginator(_deliveries(target=target), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "notifications/target_detail.html",
        {"target": target, "form": form, "page": page},
        status=status,
    )


@require_POST
@role_required(ADMINISTER)
def target_test(request, pk: int):
    target = get_object_or_404(NotificationTarget, pk=pk)
    delivery = config.target_test(actor=request.user, target=target)
    said = f"Test message to {target.name}: {delivery.last_answer}"
    if delivery.status == DeliveryStatus.DELIVERED:
        messages.success(request, said)
    else:
        messages.error(request, said)
    return redirect("notification-target-detail", target.pk)


def _rule_fields(form) -> dict:
    return dict(form.cleaned_data)


@role_required(ADMINISTER)
def rule_list(request):
    form = RuleForm(request.POST or None)
    status = 200
    if request.method == "POST":
        saved, status = _save_form(
            request,
            form,
            lambda f: config.rule_create(actor=request.user, **_rule_fields(f)),
            "Rule created.",
        )
        if saved:
            return redirect("notification-rule-list")
    rules = NotificationRule.objects.prefetch_related("pools", "hosts", "targets")
    in_maintenance = HostMaintenance.objects.select_related("host").order_by("host__hostname")
    silenced = set(HostSilence.objects.values_list("maintenance__host_id", flat=True))
    return render(
        request,
        "notifications/rule_list.html",
        {
            "rules": rules,
            "form": form,
            "in_maintenance": [(m.host, m.host_id in silenced) for m in in_maintenance],
        },
        status=status,
    )


@role_required(ADMINISTER)
def rule_detail(request, pk: int):
    rule = get_object_or_404(NotificationRule, pk=pk)
    if request.method == "POST" and "delete" in request.POST:
        config.rule_delete(actor=request.user, rule=rule)
        messages.success(request, f"Rule {rule.name} deleted.")
        return redirect("notification-rule-list")
    initial = {
        "name": rule.name,
        "enabled": rule.enabled,
        "alert_names": rule.alert_names,
        "priority_at_least": rule.priority_at_least,
        "pools": rule.pools.all(),
        "hosts": rule.hosts.all(),
        "targets": rule.targets.all(),
    }
    form = RuleForm(request.POST or None, initial=initial)
    status = 200
    if request.method == "POST":
        saved, status = _save_form(
            request,
            form,
            lambda f: config.rule_update(actor=request.user, rule=rule, **_rule_fields(f)),
            "Rule saved.",
        )
        if saved:
            return redirect("notification-rule-list")
    return render(
        request, "notifications/rule_detail.html", {"rule": rule, "form": form}, status=status
    )


@role_required(ADMINISTER)
def delivery_list(request):
    page = Paginator(_deliveries(), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "notifications/delivery_list.html", {"page": page})


@require_POST
@role_required(ADMINISTER)
def silence(request):
    posted = request.POST.get("host", "")
    if not posted.isdigit():
        raise BadRequest("host must be a host's id")
    host = get_object_or_404(Host, pk=posted)
    try:
        if request.POST.get("silence") == "off":
            config.host_unsilence(actor=request.user, host=host)
            messages.success(request, f"Messages about {host} are sent again.")
        else:
            config.host_silence(actor=request.user, host=host)
            messages.success(request, f"{host} is silenced until its maintenance ends.")
    except ConsoleError as exc:
        messages.error(request, exc.message)
    return redirect("notification-rule-list")
