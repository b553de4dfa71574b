from django import forms

from agent import names
from core.forms import WholeValuesMixin

from .models import CLUSTER_NAME_LENGTH_WHY, Cluster


class ClusterForm(WholeValuesMixin, forms.ModelForm):
    length_why = {"cluster_name": CLUSTER_NAME_LENGTH_WHY}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["pool"].empty_label = "None (hosts with their own agent)"

    class Meta:
        model = Cluster
        fields = ["name", "cluster_name", "auto_join", "pool"]
        # The model's help texts repeat these labels; the form says each thing once.
        labels = {
            "name": "Name in the console",
            "cluster_name": "Name on the hosts",
            "auto_join": "New pool hosts join it automatically",
            "pool": "Pool",
        }
        help_texts = {
            "name": "",
            "cluster_name": (
                f"1 to {names.CLUSTER_NAME_MAX} letters and digits, as o2cb add-cluster takes them."
            ),
            "auto_join": "",
            "pool": "Its members are hosts of this pool; none: hosts with their own agent.",
        }


class PoolForm(forms.Form):
    """A pool by its master. The password is never put back into the page (render_value
    off): after a refusal the admin types it again, and only it."""

    name = forms.CharField(max_length=100, label="Name in the console")
    master_address = forms.CharField(
        max_length=253,
        label="Master's address",
        help_text="Its host name or IP address (any member's: the console finds the master).",
    )
    username = forms.CharField(max_length=64, initial="root", label="User")
    password = forms.CharField(
        widget=forms.PasswordInput(render_value=False), label="Password", strip=False
    )
    tls_verify = forms.BooleanField(
        required=False,
        initial=True,
        label="Check the master's TLS certificate",
        help_text="Off only for a master with a self-signed certificate.",
    )


class PoolEditForm(PoolForm):
    password = forms.CharField(
        widget=forms.PasswordInput(render_value=False),
        label="New password",
        required=False,
        strip=False,
        help_text="Empty: the password on record stays.",
    )
