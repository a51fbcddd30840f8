"""Issue 13: a clean wheel of jiekun, installed beside other packages, owns one import name.

An installed jiekun must expose ``jiekun`` and nothing else: the repository's top-level folders
(``states``, ``workflow``, ``scheduler``, ``diagrams``, …) are generic names that a host
application, or a PyPI package such as ``diagrams`` ("Diagram as Code"), may already use. The
editable install the other tests run against cannot show this — it maps the folders in place —
so this module builds the wheel from a clean copy of the files git knows of (a stale ``build/``
or ``*.egg-info`` cannot leak into it), checks what the wheel holds, installs it with
``diagrams`` into a fresh virtual environment, and runs the README's embedding example and the
console script there, next to a host folder with its own ``states``, ``workflow`` and
``scheduler``. It needs PyPI (or pip's cache) for jiekun's dependencies and ``diagrams``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SUBPACKAGES = ("states", "policies", "workflow", "persistence", "scheduler", "diagrams")
HOST_MODULES = {"states": "states.py", "workflow": "workflow/__init__.py",
                "scheduler": "scheduler/__init__.py"}
# What the code reads at run time, and one module of each subpackage.
REQUIRED = (
    "jiekun/policies/data/wx-2023-45.toml",
    "jiekun/policies/data/wuxi-notice-2023-45.txt",
    "jiekun/persistence/migrations/env.py",
    *(f"jiekun/{package}/py.typed" for package in SUBPACKAGES),
    "jiekun/workflow/engine.py",
    "jiekun/workflow/cli/__init__.py",
    "jiekun/states/__init__.py",
    "jiekun/policies/errors.py",
    "jiekun/persistence/store.py",
    "jiekun/scheduler/service.py",
    "jiekun/diagrams/__init__.py",
)
CORE_COMMANDS = {"assess", "replay", "case", "scheduler", "demo", "diagram"}
EXAMPLE_MARKER = "<!-- embedding-example -->"
BUILD_TIMEOUT = 300
INSTALL_TIMEOUT = 600
RUN_TIMEOUT = 120


@dataclass(frozen=True)
class Build:
    source: Path  # the clean copy the wheel was built from
    wheel: Path
    version: str

    def names(self) -> list[str]:
        with zipfile.ZipFile(self.wheel) as archive:
            return archive.namelist()

    @property
    def dist_info(self) -> str:
        return f"jiekun-{self.version}.dist-info"


def child_env(pythonpath: Path | None = None) -> dict[str, str]:
    """This process's environment without anything that points Python at another tree."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("PYTHON") and key not in {"VIRTUAL_ENV", "__PYVENV_LAUNCHER__"}}
    env.update(PYTHONNOUSERSITE="1", PYTHONIOENCODING="utf-8")
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return env


def run(args: list[str | Path], cwd: Path, *, pythonpath: Path | None = None,
        timeout: float = RUN_TIMEOUT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(arg) for arg in args], cwd=cwd, env=child_env(pythonpath),
                          capture_output=True, text=True, encoding="utf-8", timeout=timeout)


def shown(result: subprocess.CompletedProcess[str]) -> str:
    return (f"exit {result.returncode}: {' '.join(map(str, result.args))}\n"
            f"--- stdout\n{result.stdout[-4000:]}\n--- stderr\n{result.stderr[-4000:]}")


def listing(names: Iterable[str]) -> str:
    return "wheel holds:\n  " + "\n  ".join(sorted(names))


def copy_clean_tree(destination: Path) -> None:
    """The files git knows of (tracked or new, not ignored) as they are in the working tree."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                           capture_output=True, check=True, timeout=60).stdout
    for name in files.decode("utf-8").split("\0"):
        source = ROOT / name
        if name and source.is_file():  # tracked files deleted in the working tree are listed
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)


def readme_example() -> str:
    readme = (ROOT / "README.md").read_text("utf-8")
    match = re.search(rf"^{re.escape(EXAMPLE_MARKER)}\n```python\n(.*?)^```[ \t]*$", readme,
                      re.MULTILINE | re.DOTALL)
    assert match, f"README.md has no ```python block on the line after {EXAMPLE_MARKER}"
    return match.group(1)


def inside(path: str, folder: Path) -> bool:
    return Path(path).resolve().is_relative_to(folder.resolve())


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Build:
    tmp = tmp_path_factory.mktemp("wheel")
    source, dist = tmp / "src", tmp / "dist"
    copy_clean_tree(source)
    version = tomllib.loads((source / "pyproject.toml").read_text("utf-8"))["project"]["version"]
    # Without isolation the build uses this venv's setuptools and wheel: no network needed.
    result = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                  "--check-build-dependencies", "--disable-pip-version-check", "-w", dist,
                  source], tmp, timeout=BUILD_TIMEOUT)
    assert result.returncode == 0, (
        "building the wheel failed; without build isolation pyproject.toml's "
        f"[build-system] requires must be installed in {sys.prefix}\n{shown(result)}")
    wheels = sorted(dist.glob("*.whl"))
    assert [wheel.name for wheel in wheels] == [f"jiekun-{version}-py3-none-any.whl"], wheels
    return Build(source, wheels[0], version)


@pytest.fixture(scope="module")
def venv(build: Build, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment holding the wheel and PyPI's ``diagrams``."""
    folder = tmp_path_factory.mktemp("venv") / "venv"
    created = run([sys.executable, "-m", "venv", folder], folder.parent)
    assert created.returncode == 0, shown(created)
    installed = run([folder / "bin" / "python", "-m", "pip", "install",
                     "--disable-pip-version-check", "--quiet", build.wheel,
                     "diagrams>=0.25,<0.26"], folder.parent, timeout=INSTALL_TIMEOUT)
    assert installed.returncode == 0, shown(installed)
    return folder


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An application folder with its own ``states``, ``workflow`` and ``scheduler``."""
    folder = tmp_path_factory.mktemp("host")
    for name, path in HOST_MODULES.items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_text(f'HOST = "{name}"\n', "utf-8")
    shutil.copy(ROOT / "tests" / "examples" / "application.json", folder / "application.json")
    return folder


def test_wheel_has_one_import_root_and_its_data(build: Build) -> None:
    names = build.names()
    strays = [name for name in names
              if not name.startswith(("jiekun/", f"{build.dist_info}/"))]
    assert not strays, f"entries outside jiekun/ and {build.dist_info}/: {strays}\n{listing(names)}"
    old_roots = [name for name in names if name.split("/")[0] in (*SUBPACKAGES, "tests")]
    assert not old_roots, f"old top-level entries: {old_roots}\n{listing(names)}"
    with zipfile.ZipFile(build.wheel) as archive:
        top_level = archive.read(f"{build.dist_info}/top_level.txt").decode("utf-8")
    assert top_level.split() == ["jiekun"], f"top_level.txt is {top_level!r}\n{listing(names)}"
    missing = [name for name in REQUIRED if name not in names]
    assert not missing, f"missing from the wheel: {missing}\n{listing(names)}"
    migrations = [name for name in names
                  if re.fullmatch(r"jiekun/persistence/migrations/versions/[^/]+\.py", name)]
    assert migrations, f"no migration in jiekun/persistence/migrations/versions/\n{listing(names)}"


def test_wheel_has_every_module_of_the_tree(build: Build) -> None:
    """Subpackages (``workflow/cli/``, ``workflow/demo/``, …) ship too, not only the folders."""
    names = set(build.names())
    expected = {f"jiekun/{package}/{path.relative_to(build.source / package).as_posix()}"
                for package in SUBPACKAGES for path in (build.source / package).rglob("*.py")}
    missing = sorted(expected - names)
    assert not missing, f"modules of the tree missing from the wheel: {missing}\n{listing(names)}"


def test_host_modules_and_pypi_diagrams_are_not_shadowed(venv: Path, host: Path) -> None:
    check = (
        "import importlib, json, states, workflow, scheduler, diagrams\n"
        "from diagrams import Diagram\n"
        "print(json.dumps({\n"
        "    'host': {m.__name__: [m.HOST, m.__file__] for m in (states, workflow, scheduler)},\n"
        "    'diagrams': [diagrams.__file__, Diagram.__module__],\n"
        "    'jiekun': {p: importlib.import_module('jiekun.' + p).__file__\n"
        f"               for p in {SUBPACKAGES}}},\n"
        "}))\n"
    )
    result = run([venv / "bin" / "python", "-c", check], host, pythonpath=host)
    assert result.returncode == 0, shown(result)
    found = json.loads(result.stdout)
    for name, (marker, file) in found["host"].items():
        assert marker == name and inside(file, host), (name, marker, file)
    diagrams_file, diagram_module = found["diagrams"]
    assert inside(diagrams_file, venv), diagrams_file
    assert "jiekun" not in Path(diagrams_file).parts, diagrams_file
    assert diagram_module.split(".")[0] == "diagrams", diagram_module
    for package, file in found["jiekun"].items():
        assert inside(file, venv), (package, file)  # the wheel, not the repository's checkout
        assert Path(file).parts[-3:] == ("jiekun", package, "__init__.py"), (package, file)


@pytest.mark.parametrize("name", [name for name in SUBPACKAGES if name != "diagrams"])
def test_old_top_level_name_is_not_importable(venv: Path, tmp_path: Path, name: str) -> None:
    result = run([venv / "bin" / "python", "-c", f"import {name}"], tmp_path)
    assert result.returncode != 0, shown(result)
    assert f"ModuleNotFoundError: No module named '{name}'" in result.stderr, shown(result)


def test_diagrams_is_the_pypi_package(venv: Path, tmp_path: Path) -> None:
    check = ("import importlib.metadata, diagrams\nfrom diagrams import Diagram\n"
             "print(diagrams.__file__)\nprint(importlib.metadata.version('diagrams'))\n")
    result = run([venv / "bin" / "python", "-c", check], tmp_path)
    assert result.returncode == 0, shown(result)
    file, version = result.stdout.split()
    assert inside(file, venv) and "jiekun" not in Path(file).parts, file
    assert version.startswith("0.25."), version


def test_readme_embedding_example_runs_beside_host_modules(venv: Path, host: Path) -> None:
    (host / "embedding_example.py").write_text(readme_example(), "utf-8")
    result = run([venv / "bin" / "python", "embedding_example.py"], host, pythonpath=host)
    assert result.returncode == 0, shown(result)
    lines = result.stdout.splitlines()
    assert "committed C-1 1 submit" in lines, shown(result)
    assert "committed C-1 2 start_preliminary_review" in lines, shown(result)
    assert any(line.startswith("refused E-TRANSITION") for line in lines), shown(result)
    # The refused approve stored nothing: the log holds the two commands that were accepted.
    events = [line.split()[2:] for line in lines if re.match(r"\d+ C-1 ", line)]
    assert events == [["submit", "submitted"],
                      ["start_preliminary_review", "preliminary_review"]], shown(result)
    assert lines[-1] == "preliminary_review", shown(result)


def test_console_script_lists_its_commands(venv: Path, build: Build, host: Path) -> None:
    from jiekun.workflow.cli import main  # the working tree's command group

    result = run([venv / "bin" / "jiekun", "--help"], host, pythonpath=host)
    assert result.returncode == 0, shown(result)
    section = result.stdout.partition("\nCommands:\n")[2]
    listed = set(re.findall(r"^  (\S+)", section, re.MULTILINE))
    assert listed >= CORE_COMMANDS, shown(result)
    assert listed == set(main.commands), shown(result)
    version = run([venv / "bin" / "jiekun", "--version"], host, pythonpath=host)
    assert version.returncode == 0 and build.version in version.stdout, shown(version)


def test_console_script_assesses_with_the_packaged_policy(venv: Path, host: Path) -> None:
    result = run([venv / "bin" / "jiekun", "assess", "application.json", "--as-of",
                  "2024-09-02", "--format", "json"], host, pythonpath=host)
    assert result.returncode == 0, shown(result)
    assessment = json.loads(result.stdout)
    assert assessment.get("category") is not None, shown(result)
    assert assessment.get("policy") == "wx-2023-45", shown(result)  # policies/data/wx-2023-45.toml
