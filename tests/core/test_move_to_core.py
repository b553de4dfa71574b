"""A database made before the core app existed keeps its rows and its roles."""

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from core.models import Task
from core.permissions import VIEW

BEFORE = [("console", "0001_initial")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_tasks_and_role_permissions_survive_the_move(django_user_model):
    old = _migrate(BEFORE)
    OldTask = old.get_model("console", "Task")
    old_types = old.get_model("contenttypes", "ContentType")
    old_permissions = old.get_model("auth", "Permission")
    task_type = old_types.objects.get_or_create(app_label="console", model="task")[0]
    permission = old_permissions.objects.get_or_create(
        content_type=task_type, codename="view_pool", defaults={"name": "Can see the pool"}
    )[0]
    OldTask.objects.create(name="Enter maintenance on host-1", kind="maintenance.enter")

    executor = MigrationExecutor(connection)
    _migrate(executor.loader.graph.leaf_nodes())
    ContentType.objects.clear_cache()

    assert Task.objects.get().name == "Enter maintenance on host-1"
    viewer = django_user_model.objects.create_user("viewer")
    viewer.user_permissions.add(permission.pk)
    assert viewer.has_perm(VIEW)
    assert not ContentType.objects.filter(app_label="console", model="task").exists()
