# Task, TaskStep, AuditEvent, Alert and ApiToken moved to the core app: their tables are
# renamed here, and core.0001 takes them over in Django's state without touching them.

from django.db import migrations

MOVED = ["Task", "TaskStep", "AuditEvent", "Alert", "ApiToken"]


class Migration(migrations.Migration):

    dependencies = [
        ("console", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.AlterModelTable(name=name, table=f"core_{name.lower()}")
                for name in MOVED
            ],
            # Those with foreign keys to Task go first.
            state_operations=[
                migrations.DeleteModel(name=name)
                for name in ["TaskStep", "AuditEvent", "Alert", "ApiToken", "Task"]
            ],
        ),
    ]
