from django import forms

from clusters.models import Host
from core.errors import ConsoleError

from .services import stated_crash_time


class CrashUploadForm(forms.Form):
    file = forms.FileField(help_text="A log (dom0.log, xen.log, kern.log) or an archive of a dump")
    host = forms.ModelChoiceField(
        queryset=Host.objects.all(), required=False, help_text="The host it came from, if known"
    )
    # Read as UTC whatever the console's time zone (crashes.services.stated_crash_time).
    crashed_at = forms.CharField(
        required=False,
        label="When it crashed (UTC)",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local", "step": "1"}),
        help_text="Only needed if the log gives no time of its own (dmesg stamps count "
        "seconds since boot); without one the crash joins no incident.",
    )

    def clean_crashed_at(self):
        try:
            return stated_crash_time(self.cleaned_data.get("crashed_at"))
        except ConsoleError as exc:
            raise forms.ValidationError(exc.message) from None
