from django import forms

from core.forms import WholeValuesMixin

from .models import CLUSTER_NAME_LENGTH_WHY, Cluster


class ClusterForm(WholeValuesMixin, forms.ModelForm):
    length_why = {"cluster_name": CLUSTER_NAME_LENGTH_WHY}

    class Meta:
        model = Cluster
        fields = ["name", "cluster_name", "auto_join"]
        labels = {"cluster_name": "Name on the hosts", "auto_join": "New pool hosts join"}
