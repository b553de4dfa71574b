"""Build the hosts' package, o2cb-agent-VERSION-1.noarch.rpm, into dist/ (make rpm).

The package holds exactly the plugin's import closure (scripts/dom0_python.py,
`plugin_files()`), the plugin file xapi runs, and the rotation of its log; its spec is
deploy/rpm/o2cb-agent.spec and its version the one in pyproject.toml. rpmbuild works in a
temporary directory of its own, so nothing of this machine's paths reaches the package.

    python scripts/build_rpm.py                 # dist/o2cb-agent-0.1.0-1.noarch.rpm
    python scripts/build_rpm.py --out /tmp/x    # elsewhere
"""

import argparse
import io
import shutil
import subprocess
import sys
import tarfile
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from dom0_python import plugin_files  # noqa: E402

NAME = "o2cb-agent"
SPEC = Path("deploy/rpm/o2cb-agent.spec")
PLUGIN = Path("deploy/xapi/o2cb-agent")
LOGROTATE = Path("deploy/rpm/o2cb-agent.logrotate")
# Every file in the tarball gets this time and owner: the tarball depends on the sources only.
SOURCE_MTIME = 0


def project_version() -> str:
    with open(ROOT / "pyproject.toml", "rb") as file:
        return tomllib.load(file)["project"]["version"]


def package_sources() -> list[Path]:
    """Repo-relative paths of what the package installs: the plugin, its code, logrotate."""
    closure = sorted(set(plugin_files()) | {PLUGIN})
    stray = [path for path in closure if path != PLUGIN and path.parts[0] != "agent"]
    if stray:
        raise SystemExit(f"plugin_files() names files outside agent/: {stray}")
    not_python = [path for path in closure if path != PLUGIN and path.suffix != ".py"]
    if not_python:
        raise SystemExit(f"plugin_files() names files that are not Python sources: {not_python}")
    return [*closure, LOGROTATE]


def write_source_tarball(path: Path, prefix: str, sources: list[Path]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for source in sources:
            data = (ROOT / source).read_bytes()
            info = tarfile.TarInfo(f"{prefix}/{source.as_posix()}")
            info.size = len(data)
            info.mode = 0o755 if source == PLUGIN else 0o644
            info.mtime = SOURCE_MTIME
            info.uname = info.gname = "root"
            tar.addfile(info, io.BytesIO(data))


def build_rpm(out_dir: Path) -> Path:
    """Build the package into `out_dir`; returns the .rpm's path."""
    rpmbuild = shutil.which("rpmbuild")
    if rpmbuild is None:
        raise SystemExit("rpmbuild is missing: install Debian's rpm package (scripts/setup.sh).")
    version = project_version()
    prefix = f"{NAME}-{version}"
    with tempfile.TemporaryDirectory(prefix="o2cb-rpmbuild-") as work:
        topdir = Path(work)
        (topdir / "SOURCES").mkdir()
        write_source_tarball(topdir / "SOURCES" / f"{prefix}.tar.gz", prefix, package_sources())
        result = subprocess.run(
            [
                rpmbuild,
                "-bb",
                "--define",
                f"_topdir {topdir}",
                "--define",
                f"o2cb_version {version}",
                str(ROOT / SPEC),
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if result.returncode != 0:
            raise SystemExit(f"rpmbuild failed:\n{result.stdout}\n{result.stderr}")
        built = topdir / "RPMS" / "noarch" / f"{prefix}-1.noarch.rpm"
        out_dir.mkdir(parents=True, exist_ok=True)
        target = out_dir / built.name
        shutil.copyfile(built, target)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dist", help="where the .rpm goes")
    print(build_rpm(parser.parse_args().out))


if __name__ == "__main__":
    main()
