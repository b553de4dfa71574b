"""Every API operation and every page, for every role: who may do what.

Mutating operations are listed here by the least role that may run them; a new
operation in the schema that is not listed fails the test until someone decides.
"""

import pytest
import yaml
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from clusters.models import Membership
from core.services.alerts import alert_raise
from crashes.services import crashdump_record
from notifications.services.config import rule_create, target_create
from tests.clusters.factories import ClusterFactory, HostFactory
from tests.conftest import api_client_for, token_client_for

ROLES = ["outsider", "read-only", "pool-operator", "pool-admin"]
RANK = {role: index for index, role in enumerate(ROLES)}

LEAST_ROLE = {
    ("post", "/api/alerts/{id}/acknowledge/"): "pool-operator",
    ("post", "/api/tasks/{id}/cancel/"): "pool-operator",
    ("post", "/api/tokens/"): "read-only",
    ("post", "/api/tokens/{id}/revoke/"): "read-only",
    ("post", "/api/clusters/"): "pool-admin",
    ("post", "/api/pools/"): "pool-admin",
    ("patch", "/api/pools/{id}/"): "pool-admin",
    ("delete", "/api/pools/{id}/"): "pool-admin",
    ("post", "/api/clusters/{id}/reconcile/"): "pool-admin",
    ("post", "/api/clusters/{id}/start/"): "pool-admin",
    ("post", "/api/clusters/{id}/what-if/"): "read-only",  # a question: it changes nothing
    ("post", "/api/hosts/{id}/accept/"): "pool-admin",
    ("post", "/api/hosts/check/"): "pool-admin",
    ("post", "/api/memberships/"): "pool-admin",
    ("delete", "/api/memberships/{id}/"): "pool-admin",
    ("post", "/api/crashdumps/"): "pool-operator",
    ("post", "/api/maintenance/enter/"): "pool-operator",
    ("post", "/api/maintenance/exit/"): "pool-operator",
    ("post", "/api/maintenance/retry/"): "pool-operator",
    ("post", "/api/maintenance/rollback/"): "pool-operator",
    ("post", "/api/maintenance/reboot/"): "pool-operator",
    ("post", "/api/maintenance/addresses/"): "pool-operator",
    ("post", "/api/maintenance/rolling-restart/"): "pool-operator",
    ("post", "/api/maintenance/remove/"): "pool-admin",
    ("post", "/api/storage/add/"): "pool-admin",
    ("post", "/api/crashdumps/{id}/acknowledge/"): "pool-operator",
    ("post", "/api/users/"): "pool-admin",
    ("post", "/api/users/{id}/role/"): "pool-admin",
    ("post", "/api/users/{id}/deactivate/"): "pool-admin",
    ("post", "/api/users/{id}/reactivate/"): "pool-admin",
    ("post", "/api/users/{id}/password/"): "pool-admin",
    ("post", "/api/users/{id}/tokens/"): "pool-admin",
    ("post", "/api/alerts/{id}/snooze/"): "pool-operator",
    ("post", "/api/notification-targets/"): "pool-admin",
    ("put", "/api/notification-targets/{id}/"): "pool-admin",
    ("patch", "/api/notification-targets/{id}/"): "pool-admin",
    ("delete", "/api/notification-targets/{id}/"): "pool-admin",
    ("post", "/api/notification-targets/{id}/test/"): "pool-admin",
    ("post", "/api/notification-rules/"): "pool-admin",
    ("put", "/api/notification-rules/{id}/"): "pool-admin",
    ("patch", "/api/notification-rules/{id}/"): "pool-admin",
    ("delete", "/api/notification-rules/{id}/"): "pool-admin",
    ("post", "/api/notification-silences/"): "pool-admin",
    ("delete", "/api/notification-silences/{id}/"): "pool-admin",
}

# Reads that need more than the read-only role.
LEAST_ROLE_TO_READ = {
    ("get", "/api/users/"): "pool-admin",
    ("get", "/api/users/{id}/"): "pool-admin",
    # Where alerts go (addresses, URLs) and what the targets answered.
    ("get", "/api/notification-targets/"): "pool-admin",
    ("get", "/api/notification-targets/{id}/"): "pool-admin",
    ("get", "/api/notification-targets/{id}/deliveries/"): "pool-admin",
    ("get", "/api/notification-rules/"): "pool-admin",
    ("get", "/api/notification-rules/{id}/"): "pool-admin",
    ("get", "/api/notification-silences/"): "pool-admin",
}

PAGES_FOR_EVERY_ROLE = [
    "dashboard",
    "pool-list",
    "host-list",
    "cluster-list",
    "task-list",
    "alert-list",
    "audit-list",
    "token-list",
    "crash-list",
]

PAGES_FOR_POOL_ADMINS = [
    "user-list",
    "notification-target-list",
    "notification-rule-list",
    "notification-delivery-list",
]


@pytest.fixture
def objects(db):
    cluster = ClusterFactory()
    host = HostFactory(registration="pending")
    member = HostFactory()
    membership, task = services_membership(cluster, member)
    alert = alert_raise(name="HOST_SILENT", target=None, priority=3, message="m")
    crash = crashdump_record(
        host=member, dump={"name": "d", "analysis": None, "error": "test"}, source="agent"
    )
    subject = User.objects.create_user("matrix-subject", password="correct-horse-battery")
    # Port 9 (discard) answers nobody here: a test message is refused at once.
    target = target_create(actor=None, name="hook", kind="webhook", url="http://127.0.0.1:9/")
    rule = rule_create(actor=None, name="all", targets=[target])
    return {
        "target": target,
        "rule": rule,
        "user": subject,
        "crashdump": crash,
        "cluster": cluster,
        "host": host,
        "membership": membership,
        "task": task,
        "alert": alert,
    }


def services_membership(cluster, host):
    from clusters.services.memberships import membership_create

    return membership_create(cluster=cluster, host=host, actor=None)


def concrete(path: str, objects) -> str:
    kind = path.split("/")[2]
    ids = {
        "alerts": objects["alert"].pk,
        "tasks": objects["task"].pk,
        "clusters": objects["cluster"].pk,
        "hosts": objects["host"].pk,
        "memberships": objects["membership"].pk,
        "crashdumps": objects["crashdump"].pk,
        "users": objects["user"].pk,
        "notification-targets": objects["target"].pk,
        "notification-rules": objects["rule"].pk,
        "notification-silences": objects["host"].pk,
    }
    path = path.replace("{host}", str(objects["host"].pk))
    return path.replace("{id}", str(ids.get(kind, 1)))


def body_for(path: str, objects) -> dict:
    if path == "/api/pools/":  # a master that does not answer: refused, 409
        return {"name": "Rack", "master_address": "http://127.0.0.1:9/", "username": "root",
                "password": "matrix"}  # fmt: skip
    if path == "/api/clusters/":
        return {"name": "New", "cluster_name": "newcl"}
    if path == "/api/clusters/{id}/what-if/":
        return {"kind": "host", "target": objects["membership"].hostname}
    if path == "/api/users/":
        return {"username": f"user-{HostFactory.build().hostname}", "role": "read-only"}
    if path == "/api/users/{id}/role/":
        return {"role": "read-only"}
    if path == "/api/users/{id}/tokens/":
        return {"name": f"token-{HostFactory.build().hostname}"}
    if path == "/api/tokens/":
        return {"name": f"token-{HostFactory.build().hostname}"}
    if path == "/api/storage/luns/":
        return {"cluster": objects["cluster"].pk}  # a query, for a GET
    if path == "/api/storage/add/":
        return {"cluster": objects["cluster"].pk, "luns": [], "dry_run": True}
    if path.startswith("/api/maintenance/"):
        # Previews and refusals: the matrix checks who may ask, not the workflow.
        return {
            "host": objects["host"].pk,
            "cluster": objects["cluster"].pk,
            "dry_run": True,
            "addresses": ["192.0.2.10"],
            "confirm_name": "not-its-name",
        }
    if path == "/api/alerts/{id}/snooze/":
        return {"minutes": 5}
    if path.startswith("/api/notification-targets/"):
        name = f"hook-{HostFactory.build().hostname}"
        return {"name": name, "kind": "webhook", "url": "http://127.0.0.1:9/"}
    if path.startswith("/api/notification-rules/"):
        name = f"rule-{HostFactory.build().hostname}"
        return {"name": name, "targets": [objects["target"].pk]}
    if path == "/api/notification-silences/":
        return {"host": objects["host"].pk}
    if path == "/api/memberships/":
        return {"cluster": objects["cluster"].pk, "host": HostFactory().pk}
    return {}


def test_every_operation_answers_each_role_as_the_matrix_says(
    role_users, objects, admin_api, settings
):
    settings.AGENT_CALL_TIMEOUT = 1  # previews ask hosts that have no agent here
    schema = yaml.safe_load(admin_api.get("/api/schema/").content)
    mutating = {
        (m, p)
        for p, ops in schema["paths"].items()
        for m in ops
        if m in {"post", "put", "patch", "delete"}
    }
    assert mutating == set(LEAST_ROLE), "classify new operations in LEAST_ROLE"
    for role in ROLES:
        client = api_client_for(role_users[role])
        for path, operations in schema["paths"].items():
            for method in operations:
                if method not in {"get", "post", "put", "patch", "delete"}:
                    continue
                url = concrete(path, objects)
                if (method, path) == ("post", "/api/crashdumps/"):
                    log = SimpleUploadedFile("kern.log", b"Nov 25 06:00:00 h kernel: hello\n")
                    response = token_client_for(role_users[role]).post(
                        url, {"file": log}, format="multipart"
                    )
                else:
                    response = getattr(client, method)(url, body_for(path, objects), format="json")
                if method == "get":
                    least = LEAST_ROLE_TO_READ.get((method, path), "read-only")
                else:
                    least = LEAST_ROLE[(method, path)]
                allowed = RANK[role] >= RANK[least]
                if allowed:
                    assert response.status_code < 400 or response.status_code in (404, 409), (
                        role,
                        method,
                        url,
                        response.status_code,
                        response.content[:200],
                    )
                else:
                    assert response.status_code == 403, (role, method, url, response.status_code)
    assert Membership.objects.filter(left__isnull=False).count() == 1  # only the admin's delete


def test_every_page_for_every_role(client, role_users, objects):
    for role in ROLES:
        client.force_login(role_users[role])
        for name in PAGES_FOR_EVERY_ROLE:
            expected = 403 if role == "outsider" else 200
            assert client.get(reverse(name)).status_code == expected, (role, name)
        for name in PAGES_FOR_POOL_ADMINS:
            expected = 200 if role == "pool-admin" else 403
            assert client.get(reverse(name)).status_code == expected, (role, name)
        subject = reverse("user-detail", args=[objects["user"].pk])
        assert client.get(subject).status_code == (200 if role == "pool-admin" else 403)
        detail = reverse("cluster-detail", args=[objects["cluster"].pk])
        assert client.get(detail).status_code == (403 if role == "outsider" else 200)
        for name, args in [
            ("cluster-start", [objects["cluster"].pk]),
            ("cluster-reconcile", [objects["cluster"].pk]),
            ("host-accept", [objects["host"].pk]),
            ("membership-destroy", [objects["membership"].pk]),
            ("hosts-check", []),
        ]:
            response = client.post(reverse(name, args=args))
            assert (response.status_code == 302) == (role == "pool-admin"), (role, name)
            if role != "pool-admin":
                assert response.status_code == 403, (role, name)
