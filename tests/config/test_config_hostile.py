"""Careless and hostile config files, through the real `check-config` and `run` processes.

Every one must be refused quickly, within a memory cap, with exit status 2 and a short error
naming file (and line where there is one) and key: never a traceback, never minutes of CPU or
gigabytes of memory.
"""

from __future__ import annotations

import os
import random
import re
import resource
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from support.daemon_helpers import EXPORTER

# Address space for one exporter process: ample for Python, pydantic and the catalog, far below
# what the alias bomb used to take (2.7 GB).
MEMORY_CAP = 1536 << 20
# Generous for a loaded 2-core machine; the alias bomb used to take minutes.
TIME_CAP = 60

pytestmark = pytest.mark.e2e  # real exporter processes


@dataclass(frozen=True)
class Case:
    name: str
    content: bytes | Callable[[Path], None]
    expected: str  # a fragment of the error line
    line: int | None = None  # the line the error must name (None: no line, e.g. file size)


def billion_laughs(levels: int = 9, width: int = 9) -> bytes:
    lines = ['a0: &a0 ["lol"]']
    for level in range(1, levels + 1):
        refs = ", ".join([f"*a{level - 1}"] * width)
        lines.append(f"a{level}: &a{level} [{refs}]")
    return ("\n".join(lines) + "\n").encode()


def billion_laughs_mappings() -> bytes:
    lines = ["x0: &x0 {k: lol}"]
    for level in range(1, 10):
        refs = ", ".join(f"k{i}: *x{level - 1}" for i in range(9))
        lines.append(f"x{level}: &x{level} {{{refs}}}")
    return ("\n".join(lines) + "\n").encode()


def laughs_in_a_source() -> bytes:
    # The bomb hides in a valid-looking key of a source entry.
    text = ", ".join(billion_laughs().decode().splitlines())
    return f"sources:\n  - type: simulator\n    name: x\n    seed: {{{text}}}\n".encode()


def deep_block(depth: int) -> bytes:
    return "".join(f"{'  ' * level}k{level}:\n" for level in range(depth)).encode() + b"  x: 1\n"


def sparse_100_mb(path: Path) -> None:
    with path.open("wb") as handle:
        handle.truncate(100 << 20)


def big_text_100_mb(path: Path) -> None:
    chunk = b"# " + b"x" * 1020 + b"\n"
    with path.open("wb") as handle:
        handle.write(b"log: {level: info}\n")
        for _ in range(100 * 1024):
            handle.write(chunk)


def garbage() -> bytes:
    rng = random.Random(9)
    return bytes(rng.randrange(256) for _ in range(4096))


def sim(**values: str) -> bytes:
    items = ", ".join(f"{key}: {value}" for key, value in values.items())
    return f"sources:\n  - {{type: simulator, {items}}}\n".encode()


LA = "type: log_analytics, workspace_ids: [w]"

CASES = [
    # --- structure and size ------------------------------------------------------------------
    Case("deep-flow-20000", b"a: " + b"[" * 20000 + b"]" * 20000 + b"\n", "nested deeper", 1),
    Case("deep-flow-mapping", b"a: " + b"{b: " * 5000 + b"1" + b"}" * 5000 + b"\n", "deeper", 1),
    Case("deep-block-200", deep_block(200), "nested deeper than 32 levels", 33),
    Case("billion-laughs", billion_laughs(), "alias bomb", None),
    Case("billion-laughs-mappings", billion_laughs_mappings(), "alias bomb", None),
    Case("billion-laughs-in-source", laughs_in_a_source(), "alias bomb", None),
    Case("recursive-alias", b"a: &a [1, *a]\n", "refers to a node that contains it", 1),
    Case("undefined-alias", b"log: *nowhere\n", "undefined alias", 1),
    Case("100-mb-sparse", sparse_100_mb, "larger than 1 MiB"),
    Case("100-mb-comments", big_text_100_mb, "larger than 1 MiB"),
    Case("binary-garbage", garbage(), "(file)"),
    Case("nul-byte", b"log:\n  level: info\x00\n", "NUL", 2),
    Case("nul-in-string", b'state: {path: "/tmp/a\\0b"}\n', "state.path: a NUL character", 1),
    Case("list-at-top", b"- web\n- log\n", "expected a mapping of sections", 1),
    Case("scalar-at-top", b"hello\n", "expected a mapping of sections", 1),
    Case("two-documents", b"log: {}\n---\nweb: {}\n", "single document", 2),
    Case("tab-indent", b"web:\n\tlisten_address: ':1'\n", "invalid YAML", 2),
    Case("bom-then-garbage", b"\xef\xbb\xbfweb: [\n", "invalid YAML", 2),
    Case(
        "latin-1", "sources:\n  - {type: simulator, name: caf\xe9}\n".encode("latin-1"), "UTF-8", 2
    ),
    Case("utf-16-without-bom", "log: {level: info}\n".encode("utf-16-le"), "NUL", 1),
    Case("python-tag", b"log: !!python/object/apply:os.system [echo]\n", "constructor", 1),
    Case("impossible-date", b"sources:\n  - {type: simulator, name: 2001-02-30}\n", "value", 2),
    Case("5000-digit-int", b"metrics: {max_series: " + b"9" * 5000 + b"}\n", "value", 1),
    Case("merge-non-mapping", b"log: {<<: 5}\n", "invalid YAML", 1),
    Case("sources-a-mapping", b"sources: {type: simulator}\n", "sources", 1),
    Case("section-a-string", b"web: everywhere\n", "web", 1),
    Case("long-unknown-key", b"log:\n  " + b"k" * 1000 + b": 1\n", "log.kkkkk", 2),
    Case("too-long-key", b"log: {" + b"k" * 100_000 + b": 1}\n", "invalid YAML", 1),
    # --- keys ----------------------------------------------------------------------------------
    Case("int-key-top", b"1: 2\n", "(top level): a mapping key must be a string", 1),
    Case("bool-key", b"yes: 1\n", "key must be a string", 1),
    Case("null-key", b"log:\n  ~: 1\n", "key must be a string", 2),
    Case("list-key", b"? [a]\n: b\n", "key must be a string", 1),
    Case("int-key-in-source", b"sources:\n  - {type: simulator, 7: x}\n", "string", 2),
    Case(
        "int-key-in-headers",
        b"otlp:\n  headers: {1: x}\n",
        "otlp.headers: a mapping key must be a string",
        2,
    ),
    Case("duplicate-top", b"log: {level: info}\nlog: {level: debug}\n", "duplicate key 'log'", 2),
    Case(
        "duplicate-section",
        b"log:\n  level: info\n  level: debug\n",
        "log.level: duplicate key 'level'",
        3,
    ),
    Case(
        "duplicate-in-source",
        b"sources:\n  - type: simulator\n    seed: 1\n    seed: 2\n",
        "sources[0].seed: duplicate key 'seed' (first at line 3)",
        4,
    ),
    Case("duplicate-header", b"otlp:\n  headers:\n    A: x\n    A: y\n", "duplicate key 'A'", 4),
    Case("duplicate-quoted", b"log: {level: info, 'level': debug}\n", "duplicate key", 1),
    # --- durations -----------------------------------------------------------------------------
    Case("huge-weeks", sim(poll_interval="99999999999w"), "sources[0].poll_interval", 2),
    Case("huge-seconds", sim(poll_interval="1e300"), "sources[0].poll_interval", 2),
    Case("huge-int-seconds", sim(poll_interval="99999999999999999999"), "poll_interval", 2),
    Case("zero-poll", sim(poll_interval="0s"), "poll_interval = '0s': expected a duration from", 2),
    Case("zero-number-poll", sim(poll_interval="0"), "poll_interval = 0: expected a duration", 2),
    Case("negative-poll", sim(poll_interval="-5s"), "sources[0].poll_interval", 2),
    Case("negative-number-poll", sim(poll_interval="-5"), "sources[0].poll_interval", 2),
    Case("nan-poll", sim(poll_interval=".nan"), "sources[0].poll_interval", 2),
    Case("inf-poll", sim(poll_interval=".inf"), "sources[0].poll_interval", 2),
    Case(
        "files-zero-poll",
        b"sources:\n  - {type: files, paths: [a], poll_interval: 0s}\n",
        "poll_interval",
        2,
    ),
    Case(
        "la-zero-poll", f"sources:\n  - {{{LA}, poll_interval: 0s}}\n".encode(), "poll_interval", 2
    ),
    Case("la-negative-lag", f"sources:\n  - {{{LA}, safety_lag: -1s}}\n".encode(), "safety_lag", 2),
    Case("la-huge-window", f"sources:\n  - {{{LA}, max_window: 400d}}\n".encode(), "max_window", 2),
    Case(
        "la-server-timeout",
        f"sources:\n  - {{{LA}, server_timeout: 0s}}\n".encode(),
        "server_timeout",
        2,
    ),
    Case(
        "la-lookback",
        f"sources:\n  - {{{LA}, initial_lookback: 9999d}}\n".encode(),
        "initial_lookback",
        2,
    ),
    Case("spike-negative", sim(spike_start="-1"), "spike_start", 2),
    Case(
        "files-negative-unterminated",
        b"sources:\n  - {type: files, paths: [a], unterminated_line_timeout: -5s}\n",
        "unterminated_line_timeout",
        2,
    ),
    Case(
        "files-huge-line-cap",
        b"sources:\n  - {type: files, paths: [a], max_line_bytes: 99999999999999}\n",
        "max_line_bytes = 99999999999999",
        2,
    ),
    # --- empty paths and ids: pathlib reads "" as ".", and an id goes into the query URL ------
    Case("empty-state-path", b'state: {path: ""}\n', "state.path = '': expected a file path", 1),
    Case(
        "blank-files-path",
        b'sources:\n  - {type: files, paths: ["  "]}\n',
        "sources[0].paths[0] = '  ': expected a file path",
        2,
    ),
    Case(
        "empty-catalog-override",
        b'catalog: {overrides: [""]}\n',
        "catalog.overrides[0] = '': expected a file path",
        1,
    ),
    Case("empty-web-config-file", b'web: {config_file: ""}\n', "web.config_file = ''", 1),
    Case(
        "empty-workspace-id",
        b'sources:\n  - {type: log_analytics, workspace_ids: [""]}\n',
        "sources[0].workspace_ids[0] = '': expected a workspace id",
        2,
    ),
    Case(
        "workspace-id-with-url-syntax",
        b'sources:\n  - {type: log_analytics, workspace_ids: ["w/../x?y"]}\n',
        "sources[0].workspace_ids[0]: expected a workspace id",
        2,
    ),
    Case(
        "relative-resource-id",
        b'sources:\n  - {type: log_analytics, resource_ids: ["subscriptions/x"]}\n',
        "sources[0].resource_ids[0]: expected an Azure resource id",
        2,
    ),
    # The same resource or workspace twice is one query's records counted twice; ids are
    # case-insensitive, and a trailing '/' names the same resource.
    Case(
        "resource-id-twice-in-other-spelling",
        b"sources:\n  - {type: log_analytics, resource_ids: [/subscriptions/s/rg/x, "
        b"/SUBSCRIPTIONS/s/RG/x/]}\n",
        "resource_ids[1] '/SUBSCRIPTIONS/s/RG/x/' names the same resource as resource_ids[0] "
        "'/subscriptions/s/rg/x'",
        2,
    ),
    Case(
        "workspace-id-twice-in-other-case",
        b"sources:\n  - {type: log_analytics, workspace_ids: [abc-d, w, ABC-D]}\n",
        "workspace_ids[2] 'ABC-D' names the same workspace as workspace_ids[0] 'abc-d'",
        2,
    ),
    Case("otlp-zero-interval", b"otlp: {interval: 0s}\n", "otlp.interval = '0s'", 1),
    Case(
        "web-zero-request-timeout", b"web: {request_timeout: 0s}\n", "web.request_timeout = '0s'", 1
    ),
    Case("otlp-inf-timeout", b"otlp: {timeout: .inf}\n", "otlp.timeout", 1),
    Case("otlp-huge-interval", b"otlp: {interval: 2w}\n", "otlp.interval", 1),
    Case("duration-list", sim(poll_interval="[1s]"), "poll_interval", 2),
    # --- URLs and names ------------------------------------------------------------------------
    Case("otlp-endpoint-bad-host", b"otlp: {endpoint: 'http://[::1/v1'}\n", "otlp.endpoint", 1),
    Case("otlp-endpoint-bad-port", b"otlp: {endpoint: 'http://h:99999/v1'}\n", "otlp.endpoint", 1),
    Case("otlp-endpoint-space", b"otlp: {endpoint: 'http://h/v 1'}\n", "otlp.endpoint", 1),
    Case(
        "la-endpoint-ftp", f"sources:\n  - {{{LA}, endpoint: 'ftp://x'}}\n".encode(), "endpoint", 2
    ),
    Case("source-name-empty", b"sources:\n  - {type: simulator, name: ''}\n", "name", 2),
    Case(
        "source-name-huge",
        b"sources:\n  - {type: simulator, name: " + b"n" * 500 + b"}\n",
        "name",
        2,
    ),
    # --- rates and counts ----------------------------------------------------------------------
    Case("rate-zero", sim(calls_per_second="0"), "calls_per_second = 0", 2),
    Case("rate-negative", sim(calls_per_second="-1"), "calls_per_second = -1", 2),
    Case("rate-inf", sim(calls_per_second=".inf"), "calls_per_second = inf", 2),
    Case("rate-nan", sim(calls_per_second=".nan"), "calls_per_second = nan", 2),
    Case("rate-huge", sim(calls_per_second="1e12"), "calls_per_second", 2),
    Case("rate-times-scale", sim(calls_per_second="1000", time_scale="1000"), "time_scale", 2),
    Case("time-scale-inf", sim(time_scale=".inf"), "time_scale", 2),
    Case("share-nan", sim(spike_server_error_share=".nan"), "spike_server_error_share", 2),
    Case("share-above-one", sim(spike_server_error_share="2"), "spike_server_error_share", 2),
    Case("seed-huge", sim(seed="1" + "0" * 30), "seed", 2),
    Case("max-series-zero", b"metrics: {max_series: 0}\n", "metrics.max_series = 0", 1),
    Case("max-series-huge", b"metrics: {max_series: 100000000000}\n", "metrics.max_series", 1),
    Case("max-series-inf", b"metrics: {max_series: .inf}\n", "metrics.max_series", 1),
    Case(
        "batch-records-huge",
        b"sources:\n  - {type: files, paths: [a], batch_records: 1e12}\n",
        "batch_records",
        2,
    ),
    Case(
        "port-huge",
        b"web: {listen_address: '0.0.0.0:99999999999999999999'}\n",
        "web.listen_address",
        1,
    ),
]


def _cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def run_exporter(args: list[str]) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ACS_EXPORTER_")}
    return subprocess.run(
        [*EXPORTER, *args],
        capture_output=True,
        text=True,
        errors="replace",
        env=environment,
        timeout=TIME_CAP,
        check=False,
        preexec_fn=_cap_memory,
    )


def write_case(case: Case, tmp_path: Path) -> Path:
    path = tmp_path / f"{case.name}.yaml"
    if isinstance(case.content, bytes):
        path.write_bytes(case.content)
    else:
        case.content(path)
    return path


COMMANDS = {
    "check-config": lambda path: ["check-config", str(path)],
    # No --web.listen-address: it would override (and so hide) the file's web section.
    "run": lambda path: ["run", "--config.file", str(path)],
}


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_hostile_config_is_refused_cleanly(case: Case, command: str, tmp_path: Path) -> None:
    path = write_case(case, tmp_path)
    result = run_exporter(COMMANDS[command](path))
    stderr = result.stderr
    assert "Traceback" not in stderr, stderr
    assert result.returncode == 2, (result.returncode, stderr[-2000:])
    assert result.stdout == ""
    lines = stderr.splitlines()
    assert lines[0].startswith("acs-exporter: invalid configuration (1 problem"), stderr[:2000]
    assert len(stderr) < 600, stderr[:2000]  # one short problem, no dump of the input
    problem = lines[1].strip()
    if case.line is None:
        assert re.match(rf"^{re.escape(str(path))}(:\d+(:\d+)?)?: ", problem), problem
    else:
        assert re.match(rf"^{re.escape(str(path))}:{case.line}(:\d+)?: ", problem), problem
    assert case.expected in problem, problem


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("empty", b""),
        ("only-comments", b"# nothing to say\n"),
        ("bom", b"\xef\xbb\xbflog: {level: info}\n"),
        ("utf-16-with-bom", "log: {level: info}\n".encode("utf-16")),
        ("crlf", b"log:\r\n  level: info\r\n"),
        ("merge-key", b"sources:\n  - &s {type: simulator, name: a}\n  - {<<: *s, name: b}\n"),
        (
            "small-aliases",
            b"sources:\n  - {type: simulator, name: a, seed: &n 3}\n"
            b"  - {type: simulator, name: b, seed: *n}\n",
        ),
    ],
)
def test_careless_but_valid_files_are_accepted(name: str, content: bytes, tmp_path: Path) -> None:
    path = tmp_path / f"{name}.yaml"
    path.write_bytes(content)
    result = run_exporter(["check-config", "--quiet", str(path)])
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


@pytest.mark.parametrize("command", ["check-config", "run"])
@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("ACS_EXPORTER_SOURCES", "[" * 50_000 + "]" * 50_000),
        ("ACS_EXPORTER_OTLP__HEADERS", '{"a": ' * 10_000 + "1" + "}" * 10_000),
        ("ACS_EXPORTER_OTLP", '{"headers": ' + "[" * 5_000),
    ],
    ids=["deep-list", "deep-map", "deep-unclosed"],
)
def test_hostile_environment_is_refused_cleanly(command: str, variable: str, value: str) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ACS_EXPORTER_")}
    environment[variable] = value
    result = subprocess.run(
        [*EXPORTER, command],
        capture_output=True,
        text=True,
        env=environment,
        timeout=TIME_CAP,
        check=False,
        preexec_fn=_cap_memory,
    )
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    assert result.returncode == 2, result.stderr[-2000:]
    assert f"environment variable {variable}: " in result.stderr
    assert "nested deeper than 32 levels" in result.stderr
