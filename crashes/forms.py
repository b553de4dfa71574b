from django import forms

from clusters.models import Host


class CrashUploadForm(forms.Form):
    file = forms.FileField(help_text="A log (dom0.log, xen.log, kern.log) or an archive of a dump")
    host = forms.ModelChoiceField(
        queryset=Host.objects.all(), required=False, help_text="The host it came from, if known"
    )
