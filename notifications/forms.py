from django import forms

from clusters.models import Host, Pool
from core.choices import AlertName, AlertPriority
from core.forms import WholeValuesMixin

from .choices import TargetKind
from .models import NotificationTarget


class TargetForm(WholeValuesMixin, forms.Form):
    """A target as typed; core of the checks is notifications.services.config."""

    name = forms.CharField(max_length=100)
    kind = forms.ChoiceField(choices=TargetKind.choices)
    enabled = forms.BooleanField(required=False, initial=True)
    recipients = forms.CharField(
        label="E-mail addresses",
        required=False,
        max_length=4000,
        help_text="For e-mail: addresses separated by commas.",
    )
    url = forms.CharField(label="Web-hook URL", required=False, max_length=2000)
    secret = forms.CharField(
        label="Web-hook secret",
        required=False,
        max_length=200,
        widget=forms.PasswordInput,
        help_text="Signs each body (HMAC-SHA256). Never shown again; leave empty to keep it.",
    )

    def clean_recipients(self):
        text = self.cleaned_data["recipients"]
        return [part.strip() for part in text.split(",") if part.strip()]

    def service_fields(self) -> dict:
        data = dict(self.cleaned_data)
        data["secret"] = data["secret"] or None  # empty: unchanged
        return data


def target_initial(target: NotificationTarget) -> dict:
    return {
        "name": target.name,
        "kind": target.kind,
        "enabled": target.enabled,
        "recipients": ", ".join(target.recipients),
        "url": target.url,
    }


class RuleForm(WholeValuesMixin, forms.Form):
    name = forms.CharField(max_length=100)
    enabled = forms.BooleanField(required=False, initial=True)
    alert_names = forms.MultipleChoiceField(
        label="Alerts",
        choices=AlertName.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every alert.",
    )
    priority_at_least = forms.TypedChoiceField(
        label="Priority at or above",
        choices=AlertPriority.choices,
        coerce=int,
        initial=AlertPriority.INFO,
    )
    pools = forms.ModelMultipleChoiceField(
        queryset=Pool.objects.all(), required=False, help_text="None chosen: every pool."
    )
    hosts = forms.ModelMultipleChoiceField(
        queryset=Host.objects.all(), required=False, help_text="None chosen: every host."
    )
    targets = forms.ModelMultipleChoiceField(queryset=NotificationTarget.objects.all())
