"""The toolkit as a distribution: it builds as an sdist and a wheel that twine accepts, and a
generated model-build repo resolves it from a package index built from this repository, with no
network, as a user's machine would."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import tarfile
import tomllib
import zipfile
from pathlib import Path

import pytest
from conftest import render_project

TEMPLATE_ROOT = Path(__file__).resolve().parents[1]
TOOLKIT = TEMPLATE_ROOT / "toolkit"
VERSION = tomllib.loads((TOOLKIT / "pyproject.toml").read_text())["project"]["version"]
STEM = f"mlops_template_toolkit-{VERSION}"


def run(command: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, **kwargs)
    assert result.returncode == 0, f"{command}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def offline_env(**extra: str) -> dict[str, str]:
    """No index, no user or site pip configuration: only what is given on the command line."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "AWS_"))}
    return {**env, "PIP_CONFIG_FILE": os.devnull, "PIP_NO_INDEX": "1", **extra}


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    # --no-isolation: the build backend (setuptools) comes from this virtualenv, not the network.
    command = [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(TOOLKIT)]
    run(command, env=offline_env())
    return out


def test_the_toolkit_builds_an_sdist_and_a_wheel_that_twine_accepts(dist: Path):
    assert sorted(p.name for p in dist.iterdir()) == [
        f"{STEM}-py3-none-any.whl",
        f"{STEM}.tar.gz",
    ]
    checked = run([sys.executable, "-m", "twine", "check", "--strict", *map(str, dist.iterdir())])
    assert checked.stdout.count("PASSED") == 2
    with zipfile.ZipFile(dist / f"{STEM}-py3-none-any.whl") as wheel:
        names = set(wheel.namelist())
        entry_points = wheel.read(f"{STEM}.dist-info/entry_points.txt").decode()
    assert "mlops_toolkit/runner/cli.py" in names and "mlops_toolkit/endpoint/endpoint.py" in names
    assert "mlops_toolkit/bootstrap/cli.py" in names
    for command in (
        "local-run",
        "serve-local",
        "local-transform",
        "drift-report",
        "mlops-bootstrap",
    ):
        assert f"{command} = " in entry_points
    with tarfile.open(dist / f"{STEM}.tar.gz") as sdist:
        members = set(sdist.getnames())
    assert f"{STEM}/README.md" in members and f"{STEM}/pyproject.toml" in members


def _site_without_the_toolkit(farm: Path) -> Path:
    """This virtualenv's packages, by symlink, minus any toolkit installed in it: the heavy
    dependencies are there as on a data scientist's machine; the toolkit must come from the
    index."""
    farm.mkdir()
    site = Path(sysconfig.get_paths()["purelib"])
    for entry in site.iterdir():
        if "mlops_template_toolkit" not in entry.name.lower().replace("-", "_"):
            (farm / entry.name).symlink_to(entry)
    return farm


def test_pip_install_dev_resolves_the_toolkit_from_a_local_index_offline(dist, tmp_path):
    project = render_project(tmp_path / "render")
    build_repo = project / f"{project.name}-modelbuild"
    farm = _site_without_the_toolkit(tmp_path / "site")
    venv = tmp_path / "venv"
    # Without pip of its own: pip and setuptools come with the rest, at this virtualenv's versions.
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = str(venv / "bin/python")
    where = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    child_site = Path(run([python, "-c", where]).stdout.strip())
    pth = f"import site; site.addsitedir({str(farm)!r})\n"
    (child_site / "heavy-dependencies.pth").write_text(pth)
    install = [python, "-m", "pip", "install", "--no-index", "--find-links", str(dist)]
    # The project's own build backend comes from the environment too (no network to fetch it).
    install += ["--no-build-isolation", "-e", f"{build_repo}[dev]"]

    result = run(install, env=offline_env())

    assert f"mlops-template-toolkit-{VERSION}" in result.stdout.replace("_", "-")
    where_toolkit = "import mlops_toolkit; print(mlops_toolkit.__file__)"
    assert Path(run([python, "-c", where_toolkit]).stdout.strip()).is_relative_to(child_site)
    usage = run([str(venv / "bin/local-run"), "--help"], cwd=build_repo).stdout
    assert "--input-data" in usage and "modelbuild.pipeline:get_pipeline" in usage
