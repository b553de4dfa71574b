# The tables were made by console.0001 and renamed by console.0002; this migration
# only tells Django's state that core owns them now, and moves their content types
# (the role permissions hang on Task's) to the new app label.

import django.db.models.deletion
import uuid
from django.conf import settings
from django.db import migrations, models


MOVED = ["task", "taskstep", "auditevent", "alert", "apitoken"]


def move_content_types(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model in MOVED:
        old = ContentType.objects.filter(app_label="console", model=model).first()
        if old is None:
            continue
        # The old row carries the permissions and the rows that point at it; a core row
        # made meanwhile (by a migrate that ran the apps' post-migrate hooks) gives way.
        ContentType.objects.filter(app_label="core", model=model).delete()
        old.app_label = "core"
        old.save(update_fields=["app_label"])


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('contenttypes', '0002_remove_content_type_name'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ('console', '0002_move_to_core'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[
            migrations.CreateModel(
                name='Task',
                fields=[
                    ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                    ('target_id', models.CharField(blank=True, max_length=64)),
                    ('target_repr', models.CharField(blank=True, max_length=200)),
                    ('uuid', models.UUIDField(default=uuid.uuid4, editable=False, unique=True)),
                    ('name', models.CharField(max_length=200)),
                    ('kind', models.CharField(help_text='What runs it, e.g. clusters.reconcile', max_length=100)),
                    ('status', models.CharField(choices=[('pending', 'Pending'), ('running', 'Running'), ('succeeded', 'Succeeded'), ('failed', 'Failed'), ('cancelled', 'Cancelled')], db_index=True, default='pending', max_length=16)),
                    ('progress', models.FloatField(default=0.0)),
                    ('params', models.JSONField(blank=True, default=dict)),
                    ('result', models.JSONField(blank=True, null=True)),
                    ('error', models.TextField(blank=True)),
                    ('created', models.DateTimeField(auto_now_add=True, db_index=True)),
                    ('started', models.DateTimeField(blank=True, null=True)),
                    ('finished', models.DateTimeField(blank=True, null=True)),
                    ('last_activity', models.DateTimeField(blank=True, null=True)),
                    ('target_type', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='contenttypes.contenttype')),
                    ('user', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ],
                options={
                    'ordering': ['-created', '-id'],
                    'permissions': [('view_pool', 'Can see the pool (read-only role)'), ('operate_pool', 'Can run maintenance and crash triage (pool-operator role)'), ('administer_pool', 'Can change clusters, storage and hosts (pool-admin role)')],
                },
            ),
            migrations.CreateModel(
                name='AuditEvent',
                fields=[
                    ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                    ('target_id', models.CharField(blank=True, max_length=64)),
                    ('target_repr', models.CharField(blank=True, max_length=200)),
                    ('created', models.DateTimeField(auto_now_add=True, db_index=True)),
                    ('actor_name', models.CharField(help_text='Kept when the user is deleted', max_length=150)),
                    ('action', models.CharField(db_index=True, max_length=100)),
                    ('outcome', models.CharField(choices=[('success', 'Success'), ('failure', 'Failure'), ('denied', 'Denied'), ('accepted', 'Accepted (runs as a task)')], max_length=16)),
                    ('message', models.TextField(blank=True)),
                    ('actor', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                    ('target_type', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='contenttypes.contenttype')),
                    ('task', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='core.task')),
                ],
                options={
                    'ordering': ['-created', '-id'],
                },
            ),
            migrations.CreateModel(
                name='TaskStep',
                fields=[
                    ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                    ('position', models.PositiveIntegerField()),
                    ('name', models.CharField(max_length=200)),
                    ('status', models.CharField(choices=[('pending', 'Pending'), ('running', 'Running'), ('succeeded', 'Succeeded'), ('failed', 'Failed'), ('skipped', 'Skipped')], default='pending', max_length=16)),
                    ('message', models.TextField(blank=True)),
                    ('started', models.DateTimeField(blank=True, null=True)),
                    ('finished', models.DateTimeField(blank=True, null=True)),
                    ('task', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='steps', to='core.task')),
                ],
                options={
                    'ordering': ['task', 'position'],
                },
            ),
            migrations.CreateModel(
                name='Alert',
                fields=[
                    ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                    ('target_id', models.CharField(blank=True, max_length=64)),
                    ('target_repr', models.CharField(blank=True, max_length=200)),
                    ('name', models.CharField(db_index=True, max_length=100)),
                    ('priority', models.PositiveSmallIntegerField(choices=[(1, 'Critical'), (2, 'Major'), (3, 'Warning'), (4, 'Minor'), (5, 'Information')])),
                    ('message', models.TextField()),
                    ('created', models.DateTimeField(auto_now_add=True, db_index=True)),
                    ('updated', models.DateTimeField(auto_now=True)),
                    ('cleared', models.DateTimeField(blank=True, help_text='When the condition ended', null=True)),
                    ('acknowledged', models.DateTimeField(blank=True, null=True)),
                    ('acknowledged_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                    ('target_type', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='contenttypes.contenttype')),
                ],
                options={
                    'ordering': ['priority', '-created', '-id'],
                    'constraints': [models.CheckConstraint(condition=models.Q(('priority__gte', 1), ('priority__lte', 5)), name='alert_priority_1_to_5')],
                },
            ),
            migrations.CreateModel(
                name='ApiToken',
                fields=[
                    ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                    ('name', models.CharField(max_length=100)),
                    ('prefix', models.CharField(db_index=True, help_text='Start of the key, shown', max_length=8)),
                    ('key_hash', models.CharField(max_length=64, unique=True)),
                    ('created', models.DateTimeField(auto_now_add=True)),
                    ('last_used', models.DateTimeField(blank=True, null=True)),
                    ('revoked', models.DateTimeField(blank=True, null=True)),
                    ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='api_tokens', to=settings.AUTH_USER_MODEL)),
                ],
                options={
                    'ordering': ['-created', '-id'],
                    'constraints': [models.UniqueConstraint(condition=models.Q(('revoked', None)), fields=('user', 'name'), name='api_token_name_unique_while_active')],
                },
            ),
            migrations.AddConstraint(
                model_name='task',
                constraint=models.CheckConstraint(condition=models.Q(('progress__gte', 0), ('progress__lte', 1)), name='task_progress_0_to_1'),
            ),
            migrations.AddConstraint(
                model_name='taskstep',
                constraint=models.UniqueConstraint(fields=('task', 'position'), name='task_step_position_unique'),
            ),
        ]),
        migrations.RunPython(move_content_types, migrations.RunPython.noop),
    ]
