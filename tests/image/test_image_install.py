"""The image's install steps, without Docker: copy what the build context holds, build the wheels
(`pip wheel`), make a virtualenv without pip and fill it from those wheels only with the build
stage's pip (`pip --python VENV/bin/python install --no-index`), as the build stage does; the
runtime stage copies that virtualenv. Then check no installer is in it (nor, by the runtime
stage's removals, in the base Python) and run the installed `acs-exporter` on the configurations
the image and the chart ship."""

from __future__ import annotations

import fnmatch
import glob
import importlib.metadata
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import tomllib
import urllib.request
from pathlib import Path

import pytest
import yaml
from helm_python.chart import Chart

from conftest import REPO
from support.ports import free_port

PACKAGE_VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]


def build_stage_sources() -> tuple[str, ...]:
    """What the Dockerfile's build stage copies (and .dockerignore lets in), read from it."""
    text = re.sub(r"\\\n", " ", (REPO / "Dockerfile").read_text())
    build_stage = text.split("\nFROM ", 2)[1]
    sources: list[str] = []
    for line in build_stage.splitlines():
        if line.startswith("COPY ") and "--from=" not in line:
            sources.extend(s.rstrip("/").removeprefix("./") for s in line.split()[1:-1])
    return tuple(sources)


BUILD_CONTEXT = build_stage_sources()
CHART_DIR = REPO / "deploy" / "helm" / "acs-exporter"
CHART_CASES = [("defaults", {})] + [
    (path.name, yaml.safe_load(path.read_text()) or {})
    for path in sorted((CHART_DIR / "ci").glob("*-values.yaml"))
]

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """bin/ of a fresh virtualenv holding only the wheels the build stage would make."""
    root = tmp_path_factory.mktemp("image")
    context = root / "src"
    context.mkdir()
    for name in BUILD_CONTEXT:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, context / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, context / name)
    wheels = root / "wheels"
    run([sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(wheels), str(context)])
    venv = root / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "--disable-pip-version-check",
            "--python",
            str(venv / "bin" / "python"),
            "install",
            "--quiet",
            "--no-cache-dir",
            "--no-index",
            "--find-links",
            str(wheels),
            f"acs-exporter=={PACKAGE_VERSION}",
        ]
    )
    return venv / "bin"


def run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=540)
    assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
    return result


def exporter(
    bin_dir: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(bin_dir / "acs-exporter"), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def build_info_step(python: Path, revision: str, created: str) -> list[str]:
    """The build stage's `python -m acs_exporter.build_info ...` command, read from the
    Dockerfile, on this virtualenv's interpreter and with the build arguments filled in."""
    text = re.sub(r"\\\n", " ", (REPO / "Dockerfile").read_text())
    build_stage = text.split("\nFROM ", 2)[1]
    (step,) = (
        part
        for line in build_stage.splitlines()
        if line.startswith("RUN ")
        for part in line[4:].split("&&")
        if "acs_exporter.build_info" in part
    )
    step = step.replace("${REVISION}", revision).replace("${CREATED}", created)
    return [str(python), *shlex.split(step)[1:]]


def test_installed_wheel_reports_version_and_the_images_commit_and_date(installed: Path) -> None:
    """Without the image build's stamp (and outside a checkout) commit and date are unknown;
    the Dockerfile's stamp step, run as the build stage runs it, fills them in."""
    result = exporter(installed, "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        f"acs-exporter, version {PACKAGE_VERSION} (revision: unknown, built: unknown)\n"
    )
    sha, created = "0123456789abcdef0123456789abcdef01234567", "2026-12-01T14:00:00+00:00"
    stamp = next((installed.parent / "lib").glob("python3*/site-packages/acs_exporter"))
    try:
        run(build_info_step(installed / "python", sha, created))
        result = exporter(installed, "--version")
        assert result.stdout == (
            f"acs-exporter, version {PACKAGE_VERSION} (revision: {sha}, built: {created})\n"
        )
    finally:
        (stamp / "build_info.json").unlink(missing_ok=True)


def test_installed_wheel_lists_its_commands(installed: Path) -> None:
    result = exporter(installed, "--help")
    assert result.returncode == 0, result.stderr
    for command in ("run", "check-config"):
        assert command in result.stdout


INSTALLERS = ("pip", "setuptools", "wheel")


def test_the_installed_environment_holds_no_installer(installed: Path) -> None:
    listed = subprocess.run(
        [
            str(installed / "python"),
            "-c",
            "import importlib.metadata as m; print('\\n'.join(sorted("
            "d.metadata['Name'].lower() for d in m.distributions())))",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.split()
    assert "acs-exporter" in listed
    assert [name for name in INSTALLERS if name in listed] == []
    assert sorted(path.name for path in installed.glob("pip*")) == []
    no_pip = subprocess.run(
        [str(installed / "python"), "-m", "pip", "--version"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert no_pip.returncode != 0
    # Console scripts point at the environment's interpreter, the path the image copies to.
    shebang = (installed / "acs-exporter").read_text().splitlines()[0]
    assert shebang == f"#!{installed / 'python'}"


def runtime_removals() -> list[str]:
    """The globs the Dockerfile's runtime stage passes to `rm -rf`."""
    text = re.sub(r"\\\n", " ", (REPO / "Dockerfile").read_text())
    runtime = text.rsplit("\nFROM ", 1)[1]
    removed: list[str] = []
    for line in runtime.splitlines():
        if line.startswith("RUN "):
            for command in re.split(r"&&|;", line[4:]):
                words = command.split()
                if words[:2] == ["rm", "-rf"]:
                    removed.extend(words[2:])
    return removed


def _cpython_layout(tmp_path: Path) -> Path:
    """A prefix laid out as the base image's CPython `make install` under /usr/local, with pip
    (and, on 3.11, setuptools) installed in it: this machine's base Python when it is such a
    build (pyenv, python.org), else a fresh virtualenv, which has the same lib/python3.X and
    bin layout (Debian's own Python uses dist-packages and ships no pip of its own)."""
    prefix = Path(sys.base_prefix)
    if glob.glob(str(prefix / "lib" / "python3.*" / "site-packages" / "pip")):
        return prefix
    venv = tmp_path / "cpython-layout"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    return venv


def test_the_runtime_removals_cover_every_installer_file_of_a_real_python(
    tmp_path: Path,
) -> None:
    """Every file that pip, setuptools and wheel install into a CPython layout (their RECORDs,
    console scripts included) and ensurepip's bundled wheels must fall under one of the runtime
    stage's removals."""
    prefix = _cpython_layout(tmp_path)
    patterns = [pattern.replace("/usr/local", str(prefix), 1) for pattern in runtime_removals()]
    assert patterns, "the runtime stage removes nothing"
    (site,) = (Path(p) for p in glob.glob(str(prefix / "lib" / "python3.*" / "site-packages")))
    files: list[Path] = []
    for dist in importlib.metadata.distributions(path=[str(site)]):
        if dist.metadata["Name"].lower() in INSTALLERS:
            files.extend(Path(os.path.normpath(site / str(entry))) for entry in dist.files or [])
    assert any(path.name.startswith("pip") for path in files), f"no pip in {site}"
    bundled = site.parent / "ensurepip" / "_bundled"
    # A virtualenv has no ensurepip of its own: where CPython keeps its bundled wheels.
    wheels = list(bundled.glob("*.whl")) if bundled.is_dir() else []
    files.extend(wheels or [bundled / "pip-0-py3-none-any.whl"])

    def removed(path: Path) -> bool:
        return any(
            fnmatch.fnmatch(str(candidate), pattern)
            for candidate in (path, *path.parents)
            for pattern in patterns
        )

    left = sorted(str(path.relative_to(prefix)) for path in files if not removed(path))
    assert left == []


def test_installed_wheel_carries_its_package_data(installed: Path) -> None:
    site = next((installed.parent / "lib").glob("python3*/site-packages"))
    source_data = {
        path.relative_to(REPO / "exporter")
        for path in (REPO / "exporter" / "acs_exporter").rglob("*")
        if path.is_file() and path.suffix in {".json", ".yaml", ".html", ".typed"}
    }
    missing = [str(path) for path in sorted(source_data) if not (site / path).is_file()]
    assert missing == []


def test_installed_wheel_carries_the_license(installed: Path) -> None:
    """The image ships the licence text: the wheel puts LICENSE in the package's .dist-info."""
    site = next((installed.parent / "lib").glob("python3*/site-packages"))
    shipped = list(site.glob("acs_exporter-*.dist-info/licenses/LICENSE"))
    assert len(shipped) == 1, sorted(p.name for p in site.glob("acs_exporter-*.dist-info/**/*"))
    assert shipped[0].read_text() == (REPO / "LICENSE").read_text()


def here(tmp_path: Path) -> dict[str, str]:
    """check-config proves the state directory writable, as run would; /var/lib/acs-exporter is
    the image's volume, not this machine's, so point the state at a directory of the test."""
    return {"ACS_EXPORTER_STATE__PATH": str(tmp_path / "state.json")}


def test_image_default_config_passes_check_config(installed: Path, tmp_path: Path) -> None:
    config = REPO / "deploy" / "docker" / "config.yaml"
    result = exporter(installed, "check-config", "--config.file", str(config), env=here(tmp_path))
    assert result.returncode == 0, result.stderr


# Values that bring their own ConfigMap render no config to check.
RENDERED_CONFIG_CASES = [case for case in CHART_CASES if not case[1].get("existingConfigMap")]


# Where the pod sees catalogOverrides (templates/_helpers.tpl acs-exporter.catalogDir).
CATALOG_DIR = "/etc/acs-exporter-catalog/"
# What a team's own ConfigMap or Secret would hold: a catalog file with no entries.
EMPTY_CATALOG = "entries: []\n"


def rendered_config(values: dict[str, object], files: Path) -> str | None:
    """config.yaml of the chart's ConfigMap, None when the values use an existing one. The
    catalog override files the pod would mount are written below `files` (the chart-made ones
    with their rendered content, those of the team's own ConfigMaps and Secrets as an empty
    catalog) and the config points there."""
    # The rules and dashboards (which need alerts/ and dashboards/) have no part in the config.
    values = {**values, "prometheusRule": {"enabled": False}, "dashboards": {"enabled": False}}
    with Chart.load(CHART_DIR) as chart:
        manifests = chart.render(values, name="rel", namespace="mon")
    document = yaml.safe_load(manifests.get("acs-exporter/templates/configmap.yaml", ""))
    if document is None:
        return None
    text = str(document["data"]["config.yaml"])
    web = values.get("web") or {}
    if isinstance(web, dict) and (web.get("tls") or {}).get("existingSecret"):
        # The web config names the team's own certificate, which no test has: the chart's web
        # config is checked with a real one by tests/helm/test_chart_web_config_sources.py.
        config = yaml.safe_load(text)
        config["web"]["config_file"] = None
        text = yaml.safe_dump(config, sort_keys=False)
    if CATALOG_DIR not in text:
        return text
    files.mkdir()
    made = yaml.safe_load(manifests.get("acs-exporter/templates/catalog-configmap.yaml", ""))
    for name, content in ((made or {}).get("data") or {}).items():
        (files / name).write_text(content)
    config = yaml.safe_load(text)
    for path in config["catalog"]["overrides"]:
        local = files / Path(path).name
        if not local.exists():
            local.write_text(EMPTY_CATALOG)
    return text.replace(CATALOG_DIR, f"{files}/")


@pytest.mark.parametrize(
    ("name", "values"), RENDERED_CONFIG_CASES, ids=[name for name, _ in RENDERED_CONFIG_CASES]
)
def test_chart_rendered_config_passes_check_config(
    installed: Path, tmp_path: Path, name: str, values: dict[str, object]
) -> None:
    text = rendered_config(values, tmp_path / "catalog")
    assert text is not None, f"{name}: the chart rendered no config.yaml"
    config = tmp_path / "config.yaml"
    config.write_text(text)
    result = exporter(installed, "check-config", "--config.file", str(config), env=here(tmp_path))
    assert result.returncode == 0, f"{name}: {result.stderr}"


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def files_under(root: Path) -> set[Path]:
    return {path.relative_to(root) for path in root.rglob("*")}


def test_the_image_command_serves_writes_only_its_state_and_stops_on_sigterm(
    installed: Path, tmp_path: Path
) -> None:
    """CMD as in the image (ENV included), with the state volume and the port moved to places
    this machine has. Without a container, a read-only root filesystem is approximated: the
    install tree, HOME and the working directory must be left untouched."""
    config = yaml.safe_load((REPO / "deploy" / "docker" / "config.yaml").read_text())
    port = free_port()
    volume = tmp_path / "volume"
    home = tmp_path / "home"
    workdir = tmp_path / "workdir"
    for directory in (volume, home, workdir):
        directory.mkdir()
    state = volume / "state.json"
    config["web"]["listen_address"] = f"127.0.0.1:{port}"
    config["state"]["path"] = str(state)
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump(config))
    venv = installed.parent
    venv_before = files_under(venv)
    log = (tmp_path / "exporter.log").open("w")
    process = subprocess.Popen(
        [str(installed / "acs-exporter"), "run", "--config.file", str(config_file)],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=workdir,
        env={
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(home),
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
        },
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        status = None
        while status is None and time.monotonic() < deadline and process.poll() is None:
            try:
                status, _ = get(f"{base}/healthz")
            except OSError:
                time.sleep(0.2)
        assert process.poll() is None, f"the exporter exited: {read_log(tmp_path)}"
        assert status == 200
        while time.monotonic() < deadline and get(f"{base}/readyz")[0] != 200:
            time.sleep(0.2)
        assert get(f"{base}/readyz")[0] == 200
        status, body = get(f"{base}/metrics")
        assert status == 200
        assert "acs_call_ends_total" in body
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            pytest.fail("the exporter ignored SIGTERM for 30 s")
        log.close()
    assert process.returncode == 0, read_log(tmp_path)
    assert state.is_file(), "the checkpoint was not written on shutdown"
    assert files_under(venv) == venv_before, "the exporter wrote into its install tree"
    assert files_under(home) == set(), "the exporter wrote into HOME"
    assert files_under(workdir) == set(), "the exporter wrote into its working directory"


def read_log(tmp_path: Path) -> str:
    return (tmp_path / "exporter.log").read_text()[-4000:]
