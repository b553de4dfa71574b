"""A real OpenLDAP server (Debian's slapd) for the tests, on a loopback port, with a small
directory: its own slapd.conf, an mdb database in a temporary directory, run as the
current user, loaded with slapadd before it starts."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

SUFFIX = "dc=example,dc=org"
ADMIN_DN = f"cn=admin,{SUFFIX}"
CONSOLE_DN = f"cn=console,ou=services,{SUFFIX}"  # the console's search account
PEOPLE = f"ou=people,{SUFFIX}"
GROUPS = f"ou=groups,{SUFFIX}"
SCHEMAS = ("core", "cosine", "nis", "inetorgperson")


def group_dn(name: str) -> str:
    return f"cn={name},{GROUPS}"


def person_dn(uid: str) -> str:
    return f"uid={uid},{PEOPLE}"


@dataclass
class Directory:
    uri: str
    admin_password: str
    console_password: str
    process: subprocess.Popen
    log: Path

    def modify(self, dn: str, changes: list) -> None:
        """Change an entry as the directory's administrator would (python-ldap)."""
        import ldap

        conn = ldap.initialize(self.uri)
        try:
            conn.simple_bind_s(ADMIN_DN, self.admin_password)
            conn.modify_s(dn, changes)
        finally:
            conn.unbind_s()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _ldif(people: dict[str, str], groups: dict[str, list[str]], console_password: str) -> str:
    entries = [
        f"dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\n"
        "o: Example\n",
        f"dn: ou=people,{SUFFIX}\nobjectClass: organizationalUnit\nou: people\n",
        f"dn: ou=groups,{SUFFIX}\nobjectClass: organizationalUnit\nou: groups\n",
        f"dn: ou=services,{SUFFIX}\nobjectClass: organizationalUnit\nou: services\n",
        f"dn: {CONSOLE_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\n"
        f"cn: console\nuserPassword: {console_password}\n",
    ]
    for uid, password in people.items():
        entries.append(
            f"dn: {person_dn(uid)}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {uid.title()}\n"
            f"sn: {uid.title()}son\ngivenName: {uid.title()}\nmail: {uid}@example.org\n"
            f"userPassword: {password}\n"
        )
    for name, members in groups.items():
        lines = "".join(f"member: {person_dn(uid)}\n" for uid in members)
        entries.append(f"dn: {group_dn(name)}\nobjectClass: groupOfNames\ncn: {name}\n{lines}")
    return "\n".join(entries)


def _config(work: Path, admin_password: str) -> str:
    includes = "".join(f"include /etc/ldap/schema/{name}.schema\n" for name in SCHEMAS)
    return (
        f"{includes}"
        f"pidfile {work / 'slapd.pid'}\n"
        f"argsfile {work / 'slapd.args'}\n"
        "modulepath /usr/lib/ldap\n"
        "moduleload back_mdb\n"
        "database mdb\n"
        "maxsize 16777216\n"
        f'suffix "{SUFFIX}"\n'
        f'rootdn "{ADMIN_DN}"\n'
        f"rootpw {admin_password}\n"
        f"directory {work / 'data'}\n"
        # Passwords: checked by binding, read by nobody; the rest: read by the console.
        "access to attrs=userPassword by anonymous auth by * none\n"
        f'access to * by dn.exact="{CONSOLE_DN}" read by self read by * none\n'
    )


def directory_start(
    work: Path, *, people: dict[str, str], groups: dict[str, list[str]], timeout: float = 60
) -> Directory:
    slapd, slapadd = shutil.which("slapd") or "/usr/sbin/slapd", "/usr/sbin/slapadd"
    assert Path(slapd).exists(), "Debian's slapd package (scripts/setup.sh)"
    admin_password, console_password = "directory-admin-secret", "console-search-secret"
    (work / "data").mkdir(parents=True)
    config = work / "slapd.conf"
    config.write_text(_config(work, admin_password))
    (work / "directory.ldif").write_text(_ldif(people, groups, console_password))
    subprocess.run(  # noqa: S603
        [slapadd, "-f", str(config), "-l", str(work / "directory.ldif")],
        check=True,
        capture_output=True,
    )
    uri = f"ldap://127.0.0.1:{_free_port()}"
    log = work / "slapd.log"
    # -d keeps slapd in the foreground, so the test owns the process and its end.
    process = subprocess.Popen(  # noqa: S603
        [slapd, "-f", str(config), "-h", f"{uri}/", "-d", "stats"],
        stdout=subprocess.DEVNULL,
        stderr=log.open("w"),
    )
    directory = Directory(uri, admin_password, console_password, process, log)
    deadline = time.monotonic() + timeout
    import ldap

    while True:
        try:
            conn = ldap.initialize(uri)
            conn.simple_bind_s(CONSOLE_DN, console_password)
            conn.unbind_s()
            return directory
        except ldap.LDAPError:
            if process.poll() is not None or time.monotonic() > deadline:
                directory.stop()
                raise AssertionError("slapd did not start:\n" + log.read_text()[-3000:]) from None
            time.sleep(0.2)
