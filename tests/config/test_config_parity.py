"""`check-config` refuses everything `run` refuses at start-up, as real processes.

The configuration-level refusals (exit 2) are covered case by case for both commands in
test_config_hostile.py; these are the refusals of what the configuration points at: the state
directory, the checkpoint, catalog overrides, the web config file.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from support.daemon_helpers import run_cli, start

pytestmark = pytest.mark.e2e  # real exporter processes


def checkpoint_bytes(body: object) -> bytes:
    raw = orjson.dumps(body)
    header = {
        "format": "acs-exporter-checkpoint",
        "version": 1,
        "sha256": hashlib.sha256(raw).hexdigest(),
    }
    return orjson.dumps(header) + b"\n" + raw


def counts(records_read: object) -> dict[str, object]:
    return {
        "series": [],
        "sources": {
            "simulator": {
                "records_read": records_read,
                "unknown": 0,
                "malformed": 0,
                "rejected": {},
            }
        },
        "cursors": {},
        "folded": 0,
    }


def state_at(path: Path | str) -> str:
    return f"state: {{path: {path}}}\n"


def catalog_override_at(path: Path) -> str:
    return f"catalog: {{overrides: [{path}]}}\n"


def state_under_proc(tmp: Path) -> str:
    # Not writable even for root (the tests may run as root, where chmod proves nothing).
    return state_at(f"/proc/acs-exporter-parity-{os.getpid()}/state.json")


def state_under_a_file(tmp: Path) -> str:
    (tmp / "plain-file").write_text("")
    return state_at(tmp / "plain-file" / "state.json")


def state_is_a_directory(tmp: Path) -> str:
    (tmp / "dir").mkdir()
    return state_at(tmp / "dir")


def unsavable_count(tmp: Path) -> str:
    # 1.9e19 reads as a count beyond 64 bits: it loads, but no save would succeed again.
    (tmp / "state.json").write_bytes(checkpoint_bytes(counts(1.9e19)))
    return state_at(tmp / "state.json")


def negative_count(tmp: Path) -> str:
    body = counts(0)
    body["series"] = [
        {
            "source": "simulator",
            "family": "acs_call_ends_total",
            "code": "0",
            "subcode": "0",
            "category": "success",
            "labels": {},
            "value": -3,
        }
    ]
    (tmp / "state.json").write_bytes(checkpoint_bytes(body))
    return state_at(tmp / "state.json")


def garbage_checkpoint(tmp: Path) -> str:
    (tmp / "state.json").write_text("garbage")
    return state_at(tmp / "state.json")


def missing_catalog_override(tmp: Path) -> str:
    return catalog_override_at(tmp / "absent.yaml")


def catalog_override_with_duplicate_keys(tmp: Path) -> str:
    (tmp / "override.yaml").write_text("entries: []\nentries: []\n")
    return catalog_override_at(tmp / "override.yaml")


def catalog_override_alias_bomb(tmp: Path) -> str:
    lines = ['a0: &a0 ["lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    (tmp / "override.yaml").write_text("\n".join(lines) + "\n")
    return catalog_override_at(tmp / "override.yaml")


def missing_web_config(tmp: Path) -> str:
    return f"web: {{config_file: {tmp}/absent-web.yaml}}\n"


CASES: dict[str, Callable[[Path], str]] = {
    "state-directory-not-writable": state_under_proc,
    "state-directory-is-a-file": state_under_a_file,
    "state-path-is-a-directory": state_is_a_directory,
    "checkpoint-count-cannot-be-saved": unsavable_count,
    "checkpoint-negative-count": negative_count,
    "checkpoint-garbage": garbage_checkpoint,
    "catalog-override-missing": missing_catalog_override,
    "catalog-override-duplicate-keys": catalog_override_with_duplicate_keys,
    "catalog-override-alias-bomb": catalog_override_alias_bomb,
    "web-config-missing": missing_web_config,
}


@pytest.mark.parametrize("name", list(CASES))
def test_check_config_refuses_what_run_refuses(name: str, tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(CASES[name](tmp_path))
    running = start(["--config.file", str(config)], tmp_path)
    try:
        status = running.process.wait(60)
    except BaseException:
        running.process.kill()
        running.process.wait()
        raise
    assert status != 0, running.log()
    assert "Traceback" not in running.log()
    checked = run_cli(["check-config", str(config)])
    assert checked.returncode == status, (status, checked.stdout, checked.stderr)
    assert "Traceback" not in checked.stderr
    # Both say the same thing (run prefixes "cannot start"; the OS reason may differ).
    said = checked.stderr.strip().splitlines()
    assert said[0].removeprefix("acs-exporter: ").partition(" (")[0] in running.log(), (
        said,
        running.log(),
    )
    for problem in said[1:]:  # an InputError's problems, each on its own line
        assert problem.strip().partition(" (")[0] in running.log(), (problem, running.log())


def test_check_config_leaves_no_trace_in_the_state_directory(tmp_path: Path) -> None:
    state = tmp_path / "state" / "deeper" / "state.json"
    config = tmp_path / "config.yaml"
    config.write_text(f"state: {{path: {state}}}\n")
    checked = run_cli(["check-config", "--quiet", str(config)])
    assert checked.returncode == 0, checked.stderr
    assert list(tmp_path.iterdir()) == [config]  # nothing created, nothing left behind
