"""deploy/Containerfile and deploy/compose.yaml, checked without a container engine (this
machine and CI have none): what the image copies exists and is not left out of the build
context, the image holds every layer the console imports, its default command's module and
settings load, and compose runs the workers and beat exactly as the systemd units do."""

import fnmatch
import importlib.util
import shlex
from pathlib import Path

import yaml

from tests.conftest import ROOT

CONTAINERFILE = ROOT / "deploy/Containerfile"
COMPOSE = ROOT / "deploy/compose.yaml"
IMAGE_WORKDIR = "/opt/o2cb-console"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Containerfile, continuation lines joined."""
    joined = CONTAINERFILE.read_text().replace("\\\n", " ")
    found = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def copied_sources() -> list[str]:
    sources = []
    for word, rest in instructions():
        if word == "COPY":
            *from_context, _destination = shlex.split(rest)
            sources += [source for source in from_context if not source.startswith("--")]
    return sources


def ignored(path: str) -> bool:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    parts = Path(path).parts
    return any(
        fnmatch.fnmatch(path, pattern) or parts[0] == pattern or fnmatch.fnmatch(parts[-1], pattern)
        for pattern in patterns
    )


def import_graph_layers() -> set[str]:
    spec = importlib.util.spec_from_file_location("import_graph", ROOT / "scripts/import_graph.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return set(module.LAYERS)


def default_command() -> list[str]:
    import json

    (cmd,) = [rest for word, rest in instructions() if word == "CMD"]
    return json.loads(cmd)


def test_every_copied_source_exists_in_the_build_context():
    sources = copied_sources()
    assert sources
    missing = [source for source in sources if not (ROOT / source).exists()]
    assert missing == []
    assert [source for source in sources if ignored(source.rstrip("/"))] == []


def test_the_image_holds_every_layer_the_console_imports_and_its_pages():
    copied = {Path(source.rstrip("/")).parts[0] for source in copied_sources()}
    assert import_graph_layers() <= copied
    assert {"templates", "static", "manage.py", "requirements.txt"} <= copied


def test_the_default_command_is_gunicorn_with_the_shipped_settings_on_the_console():
    command = default_command()
    assert command[0] == "gunicorn"
    config = command[command.index("-c") + 1]
    assert config in copied_sources()
    assert importlib.util.find_spec(command[-1]) is not None  # console.wsgi
    assert command[-1].split(".")[0] in {source.rstrip("/") for source in copied_sources()}
    settings = {}
    exec(compile((ROOT / config).read_text(), config, "exec"), settings)  # noqa: S102
    assert settings["worker_class"] == "gthread"


def test_the_image_runs_from_the_venv_of_requirements_txt_as_its_own_user():
    words = instructions()
    (base,) = [rest for word, rest in words if word == "FROM"]
    assert base == "debian:12-slim"
    runs = " ".join(rest for word, rest in words if word == "RUN")
    assert "pip install --no-cache-dir --disable-pip-version-check -r requirements.txt" in runs
    assert ("WORKDIR", IMAGE_WORKDIR) in words
    assert ("USER", "o2cb-console") in words


def unit_command(unit: str) -> list[str]:
    """A systemd unit's ExecStart, as the image would run it (from its venv on PATH)."""
    (line,) = [
        line
        for line in (ROOT / "deploy" / unit).read_text().splitlines()
        if line.startswith("ExecStart=")
    ]
    command = shlex.split(line.removeprefix("ExecStart=").replace("%%", "%"))
    command[0] = Path(command[0]).name
    return command


def test_compose_runs_the_workers_and_beat_as_the_units_do_from_one_image():
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    console_services = {"migrate", "web", "worker", "rounds", "beat"}
    assert {services[name]["image"] for name in console_services} == {"o2cb-console:latest"}
    assert {services[name]["build"]["dockerfile"] for name in console_services} == {
        "deploy/Containerfile"
    }
    assert "command" not in services["web"]  # the image's default: gunicorn
    assert services["worker"]["command"] == unit_command("o2cb-console-worker.service")
    assert services["rounds"]["command"] == unit_command("o2cb-console-rounds.service")
    beat = unit_command("o2cb-console-beat.service")
    schedule = beat.index("--schedule") + 1
    assert services["beat"]["command"][:schedule] == beat[:schedule]


def test_compose_starts_the_console_after_its_database_redis_and_schema():
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    assert services["migrate"]["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
    }
    for name in ("web", "worker", "rounds", "beat"):
        assert services[name]["depends_on"] == {
            "migrate": {"condition": "service_completed_successfully"}
        }
        assert services[name]["environment"]["DATABASE_URL"].endswith("@postgres:5432/o2cb_console")
        assert services[name]["environment"]["REDIS_URL"].endswith("@redis:6379/0")
    assert "--requirepass" in services["redis"]["command"]
