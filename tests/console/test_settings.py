import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def without_test_only(environ) -> dict:
    # The browser tests allow Django's sync ORM under Playwright's loop; a deployment never does.
    return {k: v for k, v in environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}


def manage(*args, **env):
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**without_test_only(os.environ), **env},
        timeout=120,
    )


def test_deploy_check_is_clean_with_real_values(tmp_path):
    real = {
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "console.example.org",
        "STATIC_ROOT": str(tmp_path / "static"),
    }
    # Real values include collected static files (without them: console.E001,
    # tests/console/test_deployment.py).
    assert manage("collectstatic", "--noinput", **real).returncode == 0
    result = manage("check", "--deploy", "--fail-level", "WARNING", **real)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_deploy_check_flags_the_demo_secret_key():
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="0",
        ALLOWED_HOSTS="console.example.org",
    )
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stdout + result.stderr
