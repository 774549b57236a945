"""The README's two commands (`./dev run`, `./dev test`) and .ci/run (which is `./dev test`) on a
bare machine: a bare Debian 12 has python3 but no make, so as root `dev` installs make with apt
first; as another user it says what to install. The scripts run for real; only `id`, `apt-get`
and `make` are stand-ins on PATH, since this machine cannot become a fresh one."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from conftest import REPO

BASH = shutil.which("bash") or "/bin/bash"


def bare_machine(tmp_path: Path, uid: int) -> tuple[Path, Path]:
    """A clone holding .ci/run, and a bin/ with no make: `id -u` says `uid`; `apt-get`
    records its arguments and, on install, puts a `make` there that records its own."""
    clone = tmp_path / "clone"
    (clone / ".ci").mkdir(parents=True)
    shutil.copy(REPO / ".ci" / "run", clone / ".ci" / "run")
    shutil.copy(REPO / "dev", clone / "dev")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    dirname = shutil.which("dirname")
    assert dirname
    (bin_dir / "dirname").symlink_to(dirname)
    stubs = {
        "id": f"echo {uid}",
        "apt-get": (
            f'echo "apt-get $*" >> {tmp_path}/calls\n'
            f'if [ "$1" = install ] || [ "$3" = install ]; then\n'
            f"  printf '#!{BASH}\\necho \"make $* in $PWD\" >> {tmp_path}/calls\\n' \\\n"
            f"    > {bin_dir}/make\n"
            f"  {shutil.which('chmod')} +x {bin_dir}/make\n"
            "fi"
        ),
    }
    for name, body in stubs.items():
        (bin_dir / name).write_text(f"#!{BASH}\n{body}\n")
        (bin_dir / name).chmod(0o755)
    return clone, bin_dir


def ci_run(clone: Path, bin_dir: Path) -> subprocess.CompletedProcess[str]:
    return run_on(bin_dir, BASH, str(clone / ".ci" / "run"))


def run_on(bin_dir: Path, *command: str) -> subprocess.CompletedProcess[str]:
    """`command` with only the stand-ins of `bin_dir` on PATH."""
    return subprocess.run(
        list(command),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={"PATH": str(bin_dir)},
        stdin=subprocess.DEVNULL,
    )


def test_as_root_it_installs_make_then_runs_make_test(tmp_path: Path) -> None:
    clone, bin_dir = bare_machine(tmp_path, uid=0)
    result = ci_run(clone, bin_dir)
    assert result.returncode == 0, result.stderr
    calls = (tmp_path / "calls").read_text().splitlines()
    assert calls[0] == "apt-get update -qq"
    assert calls[1].startswith("apt-get install -y")
    assert calls[1].endswith(" make")
    assert calls[2] == f"make test in {clone}"


def test_the_quick_start_runs_the_exporter_on_a_bare_machine(tmp_path: Path) -> None:
    clone, bin_dir = bare_machine(tmp_path, uid=0)
    result = run_on(bin_dir, str(clone / "dev"), "run")
    assert result.returncode == 0, result.stderr
    calls = (tmp_path / "calls").read_text().splitlines()
    assert calls[1].endswith(" make")
    assert calls[2] == f"make run in {clone}"


def test_the_readme_quick_start_is_dev_run_and_dev_test() -> None:
    readme = (REPO / "README.md").read_text()
    quick_start = readme[readme.index("## Quick start") :].split("```")[1]
    commands = [line.split("#")[0].strip() for line in quick_start.splitlines()[1:] if line]
    assert commands == ["./dev run", "./dev test"]
    assert (REPO / ".ci" / "run").read_text().rstrip().endswith("exec ./dev test")


def test_as_another_user_it_says_what_to_install(tmp_path: Path) -> None:
    clone, bin_dir = bare_machine(tmp_path, uid=1000)
    result = ci_run(clone, bin_dir)
    assert result.returncode == 1
    assert (
        result.stderr == "error: make is missing: install it first (Debian: apt-get install make)\n"
    )
    assert not (tmp_path / "calls").exists()
