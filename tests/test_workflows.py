"""The GitHub workflows are valid and build wheels for every platform we promise.

Validated offline against the GitHub-workflow schema that check-jsonschema
ships (--builtin-schema), then read with PyYAML for what they name. Runs from
the checkout's tests/ directory; skipped where .github is absent, as when the
tests run from a copy beside an installed wheel.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"

pytestmark = pytest.mark.skipif(not WORKFLOWS.is_dir(), reason="no .github/workflows beside tests/ (installed copy)")

PYTHONS = ["cp310-*", "cp311-*", "cp312-*", "cp313-*", "cp314-*"]


def load(name: str) -> dict[str, Any]:
    yaml = pytest.importorskip("yaml")
    return yaml.safe_load((WORKFLOWS / name).read_text())


def cibuildwheel_config() -> dict[str, Any]:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["cibuildwheel"]


def test_workflows_match_github_schema() -> None:
    pytest.importorskip("check_jsonschema")
    files = sorted(str(p) for p in WORKFLOWS.glob("*.yml"))
    assert files, "no workflow files"
    run = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows", *files],
        capture_output=True, text=True,
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_wheels_cover_every_platform() -> None:
    wf = load("wheels.yml")
    include = wf["jobs"]["wheels"]["strategy"]["matrix"]["include"]
    pairs = {(m["os"].split("-")[0], m["arch"]) for m in include}
    assert ("ubuntu", "x86_64") in pairs
    assert ("ubuntu", "aarch64") in pairs
    assert ("macos", "arm64") in pairs
    assert ("macos", "x86_64") in pairs
    assert ("windows", "AMD64") in pairs
    # The macOS runners really are the two architectures (an Intel image, macos-14+ Apple silicon).
    macs = {m["arch"]: m["os"] for m in include if m["os"].startswith("macos")}
    assert macs["x86_64"] in ("macos-13", "macos-15-intel")
    assert int(macs["arm64"].split("-")[1]) >= 14


def test_aarch64_uses_qemu() -> None:
    steps = load("wheels.yml")["jobs"]["wheels"]["steps"]
    qemu = [s for s in steps if "setup-qemu-action" in s.get("uses", "")]
    assert qemu and "aarch64" in qemu[0]["if"]


def test_wheels_run_cibuildwheel_3_for_cpython_310_to_314() -> None:
    steps = load("wheels.yml")["jobs"]["wheels"]["steps"]
    cibw = [s for s in steps if "pypa/cibuildwheel" in s.get("uses", "")]
    assert len(cibw) == 1
    assert cibw[0]["uses"].startswith("pypa/cibuildwheel@v3"), "cibuildwheel's current major"
    assert cibw[0]["env"]["CIBW_BUILD"].split() == PYTHONS
    cfg = cibuildwheel_config()
    assert cfg["build"].split() == PYTHONS
    assert "test-command" in cfg and "{project}/tests" in cfg["test-command"]


def test_csound_headers_and_repair_per_platform() -> None:
    """Every platform's wheel is built with both majors' headers, so it carries both plugins."""
    cfg = cibuildwheel_config()
    for platform in ("linux", "macos", "windows"):
        before = " ".join(cfg[platform]["before-all"])
        assert "csound_headers.py" in before and "--version 7.0.0" in before, platform
        assert "-Dcsound7_include=" in str(cfg[platform]["config-settings"]["setup-args"]), platform
    assert "--version 6.18.1" in " ".join(cfg["linux"]["before-all"])
    assert "--version 6.18.1" in " ".join(cfg["windows"]["before-all"])
    assert "macos_csound.sh" in " ".join(cfg["macos"]["before-all"])
    assert cfg["linux"]["manylinux-x86_64-image"] and cfg["linux"]["manylinux-aarch64-image"]
    assert "delvewheel repair" in cfg["windows"]["repair-wheel-command"]
    assert (ROOT / "tools" / "csound_headers.py").is_file()
    assert (ROOT / ".github" / "scripts" / "macos_csound.sh").is_file()


def test_sdist_job() -> None:
    steps = load("wheels.yml")["jobs"]["sdist"]["steps"]
    assert any("build" in s.get("run", "") for s in steps)


def test_ci_runs_ci_script_on_debian_and_ubuntu() -> None:
    wf = load("ci.yml")
    # PyYAML reads the bare key `on` as True.
    triggers = wf.get("on", wf.get(True))
    assert "push" in triggers
    job = wf["jobs"]["ci"]
    images = job["strategy"]["matrix"]["image"]
    assert any(i.startswith("debian:") for i in images)
    assert any(i.startswith("ubuntu:") for i in images)
    assert any(s.get("run", "").strip() == "bash .ci/run" for s in job["steps"])


def test_full_suite_runs_on_the_installed_linux_wheel() -> None:
    # cibuildwheel's manylinux containers have no Csound; a Debian job installs the built wheel
    # and runs the whole suite (every test file, not a chosen few) from outside the checkout.
    jobs = load("wheels.yml")["jobs"]
    job = jobs["test_linux_wheels"]
    needs = job["needs"]
    assert "wheels" in ([needs] if isinstance(needs, str) else needs)
    image = job["container"] if isinstance(job["container"], str) else job["container"]["image"]
    assert image == "debian:bookworm"
    steps = job["steps"]
    runs = "\n".join(s.get("run", "") for s in steps)
    for package in ("csound", "libcsound64-dev", "csound-plugins", "libcsnd-dev", "chromium", "binutils",
                    "python3-venv"):
        assert f" {package} " in f" {runs.replace(chr(10), ' ')} ", package

    # The artifact it downloads is the one the wheels job uploads for manylinux x86_64.
    upload = next(s for s in jobs["wheels"]["steps"] if "upload-artifact" in s.get("uses", ""))
    linux = next(m for m in jobs["wheels"]["strategy"]["matrix"]["include"]
                 if m["os"].startswith("ubuntu") and m["arch"] == "x86_64")
    uploaded = upload["with"]["name"].replace("${{ matrix.os }}", linux["os"]).replace("${{ matrix.arch }}", linux["arch"])
    download = [s for s in steps if "download-artifact" in s.get("uses", "")]
    assert len(download) == 1 and download[0]["with"]["name"] == uploaded
    path = download[0]["with"]["path"]

    # A venv, the cp311 manylinux wheel with [test,csound] (Csound 7), then pytest with that venv's Python on a copy of tests/.
    assert "python3 -m venv" in runs
    assert f"{path}/*cp311*manylinux*x86_64*.whl" in runs and "[test,csound]" in runs
    assert "--version 7.0.0" in runs and "CSWS_CSOUND7_INCLUDE=" in runs
    test_step = next(s for s in steps if "pytest" in s.get("run", ""))
    script = test_step["run"]
    assert "cp -r tests" in script
    pytest_line = next(line for line in script.splitlines() if "-m pytest" in line)
    assert "VENV" in pytest_line
    assert ".py" not in pytest_line and "-k" not in pytest_line.split(), "the full suite, not a selection"
    # pytest runs after a `cd` away from the checkout, so only the installed csws imports.
    lines = script.splitlines()
    assert any(line.strip().startswith("cd ") for line in lines[: lines.index(pytest_line)])

    # Nothing is published unless the full suite passed on the installed wheel.
    assert "test_linux_wheels" in jobs["publish"]["needs"]
