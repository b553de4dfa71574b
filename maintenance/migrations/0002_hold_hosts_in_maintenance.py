# Hosts already in maintenance (their storage unplugged) when the hold was added keep
# the guarantee: nothing plugs storage or starts a cluster on them until they leave.

from django.db import migrations


def hold(apps, schema_editor):
    HostMaintenance = apps.get_model("maintenance", "HostMaintenance")
    Host = apps.get_model("clusters", "Host")
    held = [m.host_id for m in HostMaintenance.objects.all() if "unplug" in (m.done or [])]
    Host.objects.filter(pk__in=held).update(maintenance_hold=True)


class Migration(migrations.Migration):

    dependencies = [
        ("maintenance", "0001_initial"),
        ("clusters", "0007_host_maintenance_hold"),
    ]

    operations = [migrations.RunPython(hold, migrations.RunPython.noop)]
