import pytest

from clusters.choices import HostRegistration
from clusters.models import Host, Pool
from notifications.services.config import rule_create, target_create

from .servers import HTTPReceiver, SMTPServer

SECRET = "s3cret-for-the-hook"


@pytest.fixture
def smtp_server(settings):
    with SMTPServer() as server:
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", server.port
        yield server


@pytest.fixture
def receiver():
    with HTTPReceiver() as server:
        yield server


@pytest.fixture(autouse=True)
def _quick_retries(settings):
    settings.NOTIFY_RETRY_BACKOFF = 0.5
    settings.NOTIFY_RETRY_BACKOFF_MAX = 4
    settings.NOTIFY_TIMEOUT = 5
    settings.CONSOLE_URL = "https://console.example"


@pytest.fixture
def pool(db):
    return Pool.objects.create(
        name="pool-a", master_address="10.0.0.1", username="root", password_encrypted="x"
    )


@pytest.fixture
def host(pool):
    return Host.objects.create(hostname="xs-1", registration=HostRegistration.ACCEPTED, pool=pool)


@pytest.fixture
def targets(smtp_server, receiver):
    mail = target_create(
        actor=None, name="on-call mail", kind="email", recipients=["ops@example.org"]
    )
    hook = target_create(
        actor=None, name="chat hook", kind="webhook", url=receiver.url, secret=SECRET
    )
    return mail, hook


@pytest.fixture
def rule(targets):
    return rule_create(actor=None, name="everything", targets=targets)
