from django import forms

from .models import Cluster


class ClusterForm(forms.ModelForm):
    class Meta:
        model = Cluster
        fields = ["name", "cluster_name", "auto_join"]
        labels = {"cluster_name": "Name on the hosts", "auto_join": "New pool hosts join"}
