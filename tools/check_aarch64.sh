#!/usr/bin/env bash
# Run csound-websocket on aarch64 Linux, a Raspberry Pi's, emulated on this x86_64 Debian machine:
#   bash tools/check_aarch64.sh
# A real aarch64 Debian 12 (bookworm) user space, made with `debootstrap --arch=arm64` from
# Debian's archive and cached in .cache/aarch64/rootfs (CSWS_AARCH64_ROOT=DIR for another place),
# runs under qemu-user-static through binfmt_misc (mounted here if it is not). In it, Debian's own
# arm64 packages: csound (6.18) with its recommended csound-plugins (websocketIO, libpy: what
# `apt install csound` gives a Pi), libcsound64-dev, python3 (3.11), gcc.
# The package is built as on a Pi: `pip install .` inside the emulated system (wheels and build
# tools from the package index), against Debian's Csound 6 headers and Csound 7's (fetched as
# tools/quickstart.sh does), so both plugins are built for aarch64. Only Csound 6 runs: the
# cycsound wheel (Csound 7) has no aarch64 Linux build, and Debian has no Csound 7.
# Then the tests that matter on a Pi, on Csound 6 (tests/test_types.py: every type both ways, under
# `csws run` and the stock `csound`; tests/test_hosts.py: the seed's scenario from `csws run` and
# the stock `csound`, with Csound's own libpy and websocketIO loaded or omitted, a ctcsound Python
# host, TLS; tests/test_install.py: `csws install`, `csws doctor`, the stock `csound` after install).
# Timings under emulation are not figures: the tests wait CSWS_TEST_TIME_FACTOR (default 10) times
# their usual limits. Needs root (debootstrap, chroot, mounts); installs debootstrap,
# qemu-user-static and binfmt-support with apt-get when missing.
# Extra arguments go to pytest (e.g. -k seed).
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$(pwd -P)"
PY="${PYTHON:-python3}"
root="${CSWS_AARCH64_ROOT:-$repo/.cache/aarch64/rootfs}"
suite=bookworm
# libcsnd-dev: libcsnd6.so, which ctcsound (the tests' Python host on Csound 6) loads.
packages=(csound csound-plugins libcsound64-dev libcsnd-dev python3-venv python3-dev gcc libc6-dev pkg-config
          file ca-certificates)
tests=(test_types.py test_hosts.py test_install.py)

if [ "$(id -u)" != 0 ]; then
  echo "check_aarch64: needs root (debootstrap, chroot, mounts)" >&2
  exit 1
fi
need=()
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v qemu-aarch64-static >/dev/null || need+=(qemu-user-static)
command -v update-binfmts >/dev/null || need+=(binfmt-support)
[ -f /usr/share/keyrings/debian-archive-keyring.gpg ] || need+=(debian-archive-keyring)   # on Ubuntu
if [ "${#need[@]}" -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

# binfmt_misc makes the kernel hand every aarch64 program to qemu, the children that pip, gcc and
# the tests start included (qemu alone would run only the first program).
binfmt=/proc/sys/fs/binfmt_misc
[ -e "$binfmt/register" ] || mount -t binfmt_misc binfmt_misc "$binfmt" || {
  echo "check_aarch64: cannot mount binfmt_misc here (a container without the privilege?)" >&2
  exit 1
}
[ -e "$binfmt/qemu-aarch64" ] || update-binfmts --enable qemu-aarch64 || true
[ -e "$binfmt/qemu-aarch64" ] || systemctl restart systemd-binfmt 2>/dev/null || true   # Ubuntu's way
[ -e "$binfmt/qemu-aarch64" ] || { echo "check_aarch64: qemu-aarch64 is not registered in binfmt_misc" >&2; exit 1; }
grep -q enabled "$binfmt/qemu-aarch64" || { echo "check_aarch64: qemu-aarch64 is disabled in binfmt_misc" >&2; exit 1; }
# Without the F flag the kernel opens qemu inside the chroot, by the path registered.
if ! grep -q '^flags:.*F' "$binfmt/qemu-aarch64"; then
  interp="$(sed -n 's/^interpreter //p' "$binfmt/qemu-aarch64")"
  copy_qemu=1
else
  copy_qemu=0
fi

started=$(date +%s)
stamp="$root/.csws-packages"
if [ ! -f "$stamp" ]; then
  rm -rf "$root"
  mkdir -p "$(dirname "$root")"
  echo "check_aarch64: debootstrap --arch=arm64 $suite into $root (once; cached)"
  debootstrap --arch=arm64 --variant=minbase --include="$(IFS=,; echo "${packages[*]}")" \
    "$suite" "$root" >"$root.debootstrap.log" 2>&1 || { tail -30 "$root.debootstrap.log"; exit 1; }
  echo "${packages[*]}" >"$stamp"
fi
[ "$copy_qemu" = 0 ] || install -D /usr/bin/qemu-aarch64-static "$root$interp"

# The host's name resolution for the package index; /proc, /sys, /dev/shm and /tmp for Python,
# Csound and pytest (debootstrap made /dev's nodes); all unmounted on the way out.
cp /etc/resolv.conf /etc/hosts "$root/etc/"
# pip inside trusts what the host's pip trusts (a proxy's own CA, where the network has one), and
# goes through the host's proxy if it has one.
cp "${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}" "$root/etc/ssl/certs/host-ca-certificates.crt"
passed=(PIP_CERT=/etc/ssl/certs/host-ca-certificates.crt)
for v in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY; do
  [ -z "${!v:-}" ] || passed+=("$v=${!v}")
done
mounts=()
cleanup() {
  local i
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do umount -l "${mounts[i]}" 2>/dev/null || true; done
}
trap cleanup EXIT
mount_in() {
  mkdir -p "$root$1"
  mount "${@:2}" "$root$1"
  mounts+=("$root$1")
}
mount_in /proc -t proc proc
mount_in /sys -t sysfs sysfs
mount_in /dev/shm -t tmpfs tmpfs
mount_in /tmp -t tmpfs tmpfs

in_root() {
  chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin \
    "${passed[@]}" "$@"
}
if [ "$(cat "$stamp")" != "${packages[*]}" ]; then
  in_root apt-get update -qq
  in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null
  echo "${packages[*]}" >"$stamp"
fi

# The checkout's files as a clean clone has them (tracked and new, not ignored), and Csound 7's
# headers, into the emulated system.
h7="${CSWS_CSOUND7_INCLUDE:-$repo/.cache/csound7/include}"
[ -f "$h7/csound/csdl.h" ] || "$PY" tools/csound_headers.py "${h7%/include}" --version 7.0.0 --source pypi
rm -rf "$root/src/csws" "$root/opt/csound7"
mkdir -p "$root/src/csws" "$root/opt/csound7"
git ls-files -coz --exclude-standard | tar --null -T - -cf - | tar -xf - -C "$root/src/csws"
cp -r "$h7" "$root/opt/csound7/include"
prepared=$(date +%s)

in_root CSWS_TEST_TIME_FACTOR="${CSWS_TEST_TIME_FACTOR:-10}" CSWS_TEST_CSOUND=6 \
  CSWS_CSOUND7_INCLUDE=/opt/csound7/include bash -s -- "${tests[@]}" "$@" <<'EOF'
set -euo pipefail
echo "aarch64: uname -m: $(uname -m); $(. /etc/os-release; echo "$PRETTY_NAME")"
# grep reads all: Csound would spin on a pipe closed under it (grep -m1).
echo "aarch64: $(python3 --version); $(csound --version 2>&1 | grep -o 'Csound version [^ ]*' | head -n1)"
[ -x /opt/venv/bin/python ] || python3 -m venv /opt/venv
# bookworm's pip 23.0 lacks -C (config settings); the tests' own needs: pytest, ctcsound (the
# Python host on Csound 6).
/opt/venv/bin/pip install -q --upgrade pip wheel
/opt/venv/bin/pip install -q pytest ctcsound
cd /src/csws
/opt/venv/bin/pip install -q ".[tls]" -Csetup-args=-Dcsound7_include=/opt/csound7/include
/opt/venv/bin/csws --version
for plugin in /opt/venv/lib/python3*/site-packages/csws/libcsws_opcodes*.so; do
  echo "aarch64: $(file -b "$plugin" | cut -d, -f1-2): $(basename "$plugin")"
done
cd tests
/opt/venv/bin/python -m pytest -p no:cacheprovider -ra "$@"
EOF
ended=$(date +%s)
echo "check_aarch64: ok; preparing the system $((prepared - started)) s, building and testing $((ended - prepared)) s"
