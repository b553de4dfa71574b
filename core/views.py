"""Pages of the ground floor: tasks, audit, alerts, your API tokens, and users."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.views import LoginView as DjangoLoginView
from django.contrib.auth.views import LogoutView as DjangoLogoutView
from django.contrib.auth.views import PasswordResetConfirmView
from django.core.exceptions import BadRequest, ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse_lazy
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from .decorators import role_required
from .directory import provider_sign_out_url
from .errors import ConsoleError
from .filtersets import AlertFilterSet, AuditEventFilterSet, TaskFilterSet
from .forms import UserCreateForm, UserRoleForm, posted_id
from .models import Alert, AuditEvent, Task
from .permissions import ADMINISTER, OPERATE
from .selectors import user_role, users_with_roles
from .services.alerts import alert_acknowledge as acknowledge
from .services.alerts import alert_snooze as snooze
from .services.auth import api_token_create, api_token_revoke
from .services.users import (
    password_link_used,
    user_create,
    user_deactivate,
    user_reactivate,
    user_set_password,
    user_set_role,
)

PAGE_SIZE = 50


class LoginView(DjangoLoginView):
    """The password form, and the single sign-on provider's button when one is set up."""

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        if settings.OIDC_RP_CLIENT_ID:
            context["sso_name"] = settings.OIDC_PROVIDER_NAME
            context["sso_failed"] = self.request.GET.get("sso") == "failed"
        return context


class LogoutView(DjangoLogoutView):
    """Signs out of the console and, for a session the provider signed in, of the
    provider too: otherwise the next "Sign in with" would sign the browser straight back."""

    def post(self, request, *args, **kwargs):
        at_provider = provider_sign_out_url(request)  # read before the session goes
        response = super().post(request, *args, **kwargs)
        return HttpResponseRedirect(at_provider) if at_provider else response


def page_of(request, queryset):
    return Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))


@role_required()
def task_list(request):
    filterset = TaskFilterSet(request.GET, queryset=Task.objects.select_related("user"))
    return render(
        request,
        "core/task_list.html",
        {"filter": filterset, "page": page_of(request, filterset.qs)},
    )


@role_required()
def task_detail(request, pk: int):
    task = get_object_or_404(Task.objects.select_related("user"), pk=pk)
    # htmx polls this same URL and swaps in the live part only.
    template = (
        "core/_task_live.html" if request.headers.get("HX-Request") else "core/task_detail.html"
    )
    return render(request, template, {"task": task, "steps": task.steps.all()})


@role_required()
def audit_list(request):
    filterset = AuditEventFilterSet(request.GET, queryset=AuditEvent.objects.all())
    return render(
        request,
        "core/audit_list.html",
        {"filter": filterset, "page": page_of(request, filterset.qs)},
    )


@role_required()
def alert_list(request):
    params = request.GET.copy()
    params.setdefault("open", "true")
    filterset = AlertFilterSet(params, queryset=Alert.objects.select_related("acknowledged_by"))
    return render(
        request,
        "core/alert_list.html",
        {"filter": filterset, "page": page_of(request, filterset.qs), "now": timezone.now()},
    )


def _back_to_alerts(request):
    back = request.POST.get("next", "")
    # Only back to a page of this console: `next` is posted, so anyone can forge it.
    if url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(back)
    return redirect("alert-list")


@require_POST
@role_required(OPERATE)
def alert_acknowledge(request, pk: int):
    acknowledge(alert=get_object_or_404(Alert, pk=pk), actor=request.user)
    return _back_to_alerts(request)


@require_POST
@role_required(OPERATE)
def alert_snooze(request, pk: int):
    try:
        minutes = int(request.POST.get("minutes", ""))
    except ValueError:
        raise BadRequest("minutes must be a whole number") from None
    snooze(alert=get_object_or_404(Alert, pk=pk), minutes=minutes, actor=request.user)
    return _back_to_alerts(request)


@role_required()
def token_list(request):
    """Your API tokens: make one (its key is shown once, here) or revoke one."""
    new_key, status = None, 200
    if request.method == "POST":
        try:
            if "revoke" in request.POST:
                token = get_object_or_404(request.user.api_tokens, pk=posted_id(request, "revoke"))
                api_token_revoke(token=token, actor=request.user)
                messages.success(request, f"Token '{token.name}' revoked.")
            else:
                token, new_key = api_token_create(
                    user=request.user, name=request.POST.get("name", "")
                )
        except ConsoleError as exc:
            messages.error(request, exc.message)
            status = exc.status_code
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            status = 400
    tokens = request.user.api_tokens.all()
    return render(
        request, "core/token_list.html", {"tokens": tokens, "new_key": new_key}, status=status
    )


# Users: pool-admins only ---------------------------------------------------------------


def _link_days() -> int:
    return max(1, settings.PASSWORD_RESET_TIMEOUT // 86400)


def _user_detail_page(request, user, *, new_link=None, new_key=None, status=200):
    user = get_object_or_404(users_with_roles(), pk=user.pk)
    return render(
        request,
        "core/user_detail.html",
        {
            "subject": user,
            "role": user_role(user),
            "role_form": UserRoleForm(initial={"role": (user_role(user) or "")}),
            "tokens": user.api_tokens.all(),
            "new_link": request.build_absolute_uri(new_link) if new_link else None,
            "new_key": new_key,
            "is_self": user.pk == request.user.pk,
            "link_days": _link_days(),
        },
        status=status,
    )


@role_required(ADMINISTER)
def user_list(request):
    """Every user with their role; a pool-admin makes one here."""
    form = UserCreateForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            user, link = user_create(actor=request.user, **form.cleaned_data)
        except ConsoleError as exc:
            form.add_error(None, exc.message)  # beside what was typed, which stays
            status = exc.status_code
        else:
            messages.success(request, f"User {user.get_username()} created.")
            return _user_detail_page(request, user, new_link=link)
    elif request.method == "POST":
        status = 400
    users = [(user, user_role(user)) for user in users_with_roles()]
    return render(
        request,
        "core/user_list.html",
        {"users": users, "form": form, "link_days": _link_days()},
        status=status,
    )


@role_required(ADMINISTER)
def user_detail(request, pk: int):
    """One user: their role, whether they may log in, their password and API tokens."""
    user = get_object_or_404(get_user_model(), pk=pk)
    if request.method != "POST":
        return _user_detail_page(request, user)
    op = request.POST.get("op", "")
    new_link = new_key = None
    try:
        if op == "role":
            form = UserRoleForm(request.POST)
            if not form.is_valid():
                raise BadRequest("Choose a role from the list.")
            user_set_role(actor=request.user, user=user, role=form.cleaned_data["role"])
            messages.success(
                request, f"{user.get_username()} is now {user_role(user) or 'without a role'}."
            )
        elif op == "deactivate":
            user_deactivate(actor=request.user, user=user)
            messages.success(request, f"{user.get_username()} is deactivated.")
        elif op == "reactivate":
            user_reactivate(actor=request.user, user=user)
            messages.success(request, f"{user.get_username()} is active again.")
        elif op == "password":
            new_link = user_set_password(
                actor=request.user, user=user, password=request.POST.get("password", "")
            )
            if new_link is None:
                messages.success(request, f"New password of {user.get_username()} set.")
        elif op == "token":
            _token, new_key = api_token_create(
                user=user, name=request.POST.get("name", ""), actor=request.user
            )
        elif op == "revoke":
            token = get_object_or_404(user.api_tokens, pk=posted_id(request, "token"))
            api_token_revoke(token=token, actor=request.user)
            messages.success(request, f"Token '{token.name}' revoked.")
        else:
            raise BadRequest("Unknown operation on a user.")
    except ConsoleError as exc:
        messages.error(request, exc.message)
        return _user_detail_page(request, user, status=exc.status_code)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return _user_detail_page(request, user, status=400)
    if new_link or new_key:
        return _user_detail_page(request, user, new_link=new_link, new_key=new_key)
    return redirect("user-detail", pk=user.pk)


@method_decorator(login_not_required, name="dispatch")
class PasswordSetView(PasswordResetConfirmView):
    """Where a one-time set-password link leads (Django's reset token: one use)."""

    template_name = "core/password_set.html"
    success_url = reverse_lazy("password-set-done")

    def form_valid(self, form):
        response = super().form_valid(form)
        password_link_used(user=form.user)
        return response


@login_not_required
def password_set_done(request):
    return render(request, "core/password_set_done.html")
