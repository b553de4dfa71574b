#!/usr/bin/env bash
# Install what the console needs on a Debian machine: system packages when missing,
# then a virtualenv with the pinned Python packages. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

# The lab (make lab, the lab tests): QEMU, and what its guests run from this machine; the
# metrics and directory tests: a real Prometheus (promtool too) and slapd; python-ldap's
# headers; rpm, logrotate, systemd: build the hosts' package and check it and the units.
DEBIAN_PACKAGES=(redis-server ocfs2-tools chromium qemu-system-x86 qemu-utils busybox-static kmod
  cpio e2fsprogs udev multipath-tools iproute2
  prometheus slapd ldap-utils libldap2-dev libsasl2-dev rpm logrotate systemd)
missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "Installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
# Reinstall only when requirements.txt changed since the last install.
stamp=.venv/.requirements.sha256
want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/pip install -q --disable-pip-version-check -r requirements.txt
  echo "$want" > "$stamp"
fi
