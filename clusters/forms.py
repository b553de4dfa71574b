from django import forms

from agent import names
from core.forms import WholeValuesMixin

from .models import CLUSTER_NAME_LENGTH_WHY, Cluster


class ClusterForm(WholeValuesMixin, forms.ModelForm):
    length_why = {"cluster_name": CLUSTER_NAME_LENGTH_WHY}

    class Meta:
        model = Cluster
        fields = ["name", "cluster_name", "auto_join"]
        # The model's help texts repeat these labels; the form says each thing once.
        labels = {
            "name": "Name in the console",
            "cluster_name": "Name on the hosts",
            "auto_join": "New pool hosts join it automatically",
        }
        help_texts = {
            "name": "",
            "cluster_name": (
                f"1 to {names.CLUSTER_NAME_MAX} letters and digits, as o2cb add-cluster takes them."
            ),
            "auto_join": "",
        }
