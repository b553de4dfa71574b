# The help text of peers_alive changed with the views in brief (0003) without a migration.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('clusters', '0003_views_in_brief'),
    ]

    operations = [
        migrations.AlterField(
            model_name='clusterhoststatus',
            name='peers_alive',
            field=models.JSONField(default=list, help_text='Ranges [first, last] of the node numbers it sees alive'),
        ),
    ]
