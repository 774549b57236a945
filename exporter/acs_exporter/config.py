"""The exporter's configuration: one YAML file, `ACS_EXPORTER_` environment overrides, CLI flags.

Precedence, highest first: command-line flags, environment (`ACS_EXPORTER_<SECTION>__<KEY>`),
the YAML file, defaults. Validation errors are collected into a `ConfigError` whose every problem
names the key, where it came from (file:line or environment variable) and what was expected, so
`run` and `check-config` can print them without a traceback. The value written is shown only
when it cannot be a secret (a number, a boolean, a duration): see `acs_exporter.redact`.
The file is read by `acs_exporter.safeyaml` (bounded size, depth and alias expansion; no
duplicate or non-string keys).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, cast

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings.exceptions import SettingsError

from acs_exporter import safeyaml
from acs_exporter.redact import is_secret_key, mask_text, scrub, shown_value
from acs_exporter.settings_types import (
    READ_DURATION,
    FilePath,
    between,
    check_http_url,
    format_duration,
    parse_duration,
)
from acs_exporter.sources.files_settings import FilesSettings
from acs_exporter.sources.loganalytics.settings import LogAnalyticsSettings
from acs_exporter.sources.simulator_settings import SimulatorSettings
from acs_exporter.tables import ExtraLabel

ENV_PREFIX = "ACS_EXPORTER_"
ENV_DELIMITER = "__"
DEFAULT_PORT = 10142
__all__ = ["format_duration", "parse_duration"]  # re-exported: their home is settings_types

# The config file: a few KiB in practice; anything near these limits is a mistake or an attack.
YAML_LIMITS = safeyaml.YamlLimits(max_bytes=1 << 20, max_depth=32, max_nodes=100_000)

Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
_MS = timedelta(milliseconds=1)
PushInterval = Annotated[timedelta, READ_DURATION, between(100 * _MS, timedelta(hours=1))]
PushTimeout = Annotated[timedelta, READ_DURATION, between(100 * _MS, timedelta(minutes=5))]
RequestTimeout = Annotated[timedelta, READ_DURATION, between(100 * _MS, timedelta(minutes=10))]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class WebSettings(_Section):
    listen_address: str = Field(
        f"0.0.0.0:{DEFAULT_PORT}",
        description="host:port to serve /metrics on (CLI --web.listen-address).",
    )
    config_file: FilePath | None = Field(
        None,
        description="Exporter-toolkit web config file: TLS and basic auth (CLI --web.config.file).",
    )
    request_timeout: RequestTimeout = Field(
        timedelta(seconds=30),
        description="Longest time one HTTP request may take, first byte to last byte of the "
        "answer (TLS handshake included); a slower client is cut.",
    )

    @field_validator("listen_address")
    @classmethod
    def _host_port(cls, value: str) -> str:
        split_listen_address(value)
        return value


def split_listen_address(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdecimal() or len(port) > 5 or not 0 <= int(port) <= 65535:
        raise ValueError("expected host:port with a port from 0 to 65535, e.g. 0.0.0.0:10142")
    return host.strip("[]") or "0.0.0.0", int(port)  # noqa: S104 (the documented default)


class LogSettings(_Section):
    format: Literal["json", "text"] = Field("json", description="Log format (CLI --log.format).")
    level: Literal["debug", "info", "warn", "error"] = Field(
        "info", description="Least severe level logged (CLI --log.level)."
    )


class CatalogSettings(_Section):
    overrides: list[FilePath] = Field(
        default_factory=list, description="Extra catalog YAML files, applied in order."
    )


class MetricsSettings(_Section):
    extra_labels: list[ExtraLabel] = Field(
        default_factory=list,
        description="Extra labels on acs_call_ends_total, from the allow-list.",
    )
    max_series: int = Field(
        2000,
        ge=1,
        le=1_000_000,
        description="Ceiling on distinct outcome series (cardinality guard).",
    )
    category_source: Literal["catalog", "service"] = Field(
        "catalog",
        description=(
            "Which verdict sets `category` when a documented row and the service's "
            "ResultCategory disagree (acs_call_end_category_disagreements_total counts them)."
        ),
    )

    @field_validator("extra_labels")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("each extra label may appear once")
        return value


class StateSettings(_Section):
    path: FilePath | None = Field(
        None, description="Checkpoint file (cursor + counts); null keeps state in memory only."
    )


class OtlpSettings(_Section):
    enabled: bool = Field(False, description="Push metrics over OTLP/HTTP as well.")
    endpoint: str = Field(
        "http://127.0.0.1:4318/v1/metrics", description="OTLP/HTTP metrics endpoint."
    )
    interval: PushInterval = Field(timedelta(seconds=15), description="Time between pushes.")
    timeout: PushTimeout = Field(timedelta(seconds=10), description="Timeout of one push.")
    headers: dict[str, str] = Field(
        default_factory=dict, description="HTTP headers sent with each push (values are secret)."
    )

    @field_validator("endpoint")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return check_http_url(value)


_SOURCE_MODELS: dict[str, type[BaseModel]] = {
    "simulator": SimulatorSettings,
    "files": FilesSettings,
    "log_analytics": LogAnalyticsSettings,
}


def _prepare_source(value: object) -> object:
    """Check the `type` tag with a clear message (the source models read their own durations).
    The message never quotes the value: it could be anything, a secret included."""
    if not isinstance(value, Mapping):
        return value
    kinds = ", ".join(_SOURCE_MODELS)
    if "type" not in value:
        raise ValueError(f"missing key `type`: expected one of {kinds}")
    if not isinstance(value["type"], str) or value["type"] not in _SOURCE_MODELS:
        raise ValueError(f"unknown source type: expected one of {kinds}")
    return value


SourceSettings = Annotated[
    Annotated[
        SimulatorSettings | FilesSettings | LogAnalyticsSettings,
        Field(discriminator="type"),
    ],
    BeforeValidator(_prepare_source),
]

# The YAML document of the load in progress (pydantic-settings builds sources per class).
_yaml_data: ContextVar[dict[str, Any] | None] = ContextVar("acs_exporter_yaml_data", default=None)


class _YamlSource(PydanticBaseSettingsSource):
    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return (_yaml_data.get() or {}).get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(_yaml_data.get() or {})


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=ENV_DELIMITER,
        extra="forbid",
        case_sensitive=False,
    )

    web: WebSettings = Field(default_factory=lambda: WebSettings.model_validate({}))
    log: LogSettings = Field(default_factory=lambda: LogSettings.model_validate({}))
    catalog: CatalogSettings = Field(default_factory=lambda: CatalogSettings.model_validate({}))
    metrics: MetricsSettings = Field(default_factory=lambda: MetricsSettings.model_validate({}))
    state: StateSettings = Field(default_factory=lambda: StateSettings.model_validate({}))
    otlp: OtlpSettings = Field(default_factory=lambda: OtlpSettings.model_validate({}))
    sources: list[SourceSettings] = Field(
        default_factory=list, description="Empty: one simulator with default settings."
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _YamlSource(settings_cls))

    @field_validator("sources")
    @classmethod
    def _unique_source_names(
        cls, sources: list[SimulatorSettings | FilesSettings | LogAnalyticsSettings]
    ) -> list[SimulatorSettings | FilesSettings | LogAnalyticsSettings]:
        # On the field, not the model: the error then points at `sources:`, and the input
        # it carries is the list, not the whole document (headers included).
        names = [source.name for source in sources]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            # Names are echoed on purpose: they are labels on /metrics, not secrets.
            raise ValueError(
                f"source names must be unique (they key the checkpoint and the `source` "
                f"label); duplicated: {', '.join(repr(name) for name in duplicates)}"
            )
        return sources

    def effective_sources(self) -> list[SimulatorSettings | FilesSettings | LogAnalyticsSettings]:
        return list(self.sources) or [SimulatorSettings.model_validate({})]


@dataclass(frozen=True)
class ConfigProblem:
    key: str  # dotted path, e.g. sources[0].calls_per_second
    origin: str  # file:line, environment variable or command-line flag
    value: str  # shown as given (secrets masked); "" when the key is missing
    expected: str

    def render(self) -> str:
        value = f" = {self.value}" if self.value else ""
        return f"{self.origin}: {self.key}{value}: {self.expected}"


class ConfigError(Exception):
    def __init__(self, problems: Sequence[ConfigProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__(self.render())

    def render(self) -> str:
        count = len(self.problems)
        head = f"invalid configuration ({count} problem{'s' if count != 1 else ''}):"
        return "\n".join([head, *(f"  {problem.render()}" for problem in self.problems)])


def load_settings(
    config_file: Path | None = None,
    overrides: Mapping[str, Mapping[str, object]] | None = None,
) -> Settings:
    """Validate YAML file + environment + CLI `overrides` ({"web": {"listen_address": ...}})."""
    document, lines = _read_yaml(config_file) if config_file else ({}, {})
    _check_environment()
    init = {section: dict(values) for section, values in (overrides or {}).items() if values}
    token = _yaml_data.set(document)
    try:
        return Settings(**cast(Any, init))
    except ValidationError as exc:
        raise ConfigError(
            [_problem(error, config_file, lines, init) for error in exc.errors()]
        ) from None
    except SettingsError as exc:
        raise ConfigError([_settings_problem(exc)]) from None
    finally:
        _yaml_data.reset(token)


def _check_environment() -> None:
    """The file's bounds for `ACS_EXPORTER_*` variables too: pydantic-settings reads their JSON
    with the recursive json module (RecursionError at a few thousand levels)."""
    for name, value in os.environ.items():
        if not name.upper().startswith(ENV_PREFIX):
            continue
        problem = None
        if len(value) > YAML_LIMITS.max_bytes:
            problem = "the value is larger than 1 MiB"
        elif _json_depth(value) > YAML_LIMITS.max_depth:
            problem = f"nested deeper than {YAML_LIMITS.max_depth} levels"
        if problem is not None:
            key = name[len(ENV_PREFIX) :].lower().replace(ENV_DELIMITER, ".")
            raise ConfigError(
                [ConfigProblem(key, f"environment variable {name.upper()}", "", problem)]
            )


def _json_depth(text: str) -> int:
    """Deepest nesting of [ and { outside JSON strings (linear, not recursive)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _settings_problem(exc: SettingsError) -> ConfigProblem:
    """pydantic-settings could not parse an environment variable (e.g. a list as non-JSON)."""
    match = re.search(r'field "(\w+)"', str(exc))
    key = match[1] if match else "(environment)"
    name = _unparsable_variable(ENV_PREFIX + key.upper())
    return ConfigProblem(
        key,
        f"environment variable {name}",
        "",  # never the value: a section's JSON can hold the OTLP headers
        "expected JSON for a section, list or map, e.g. "
        + (
            '\'[{"type": "simulator"}]\''
            if key == "sources"
            else f'\'{{"key": "value"}}\' or {name}__KEY=value'
        ),
    )


def _unparsable_variable(name: str) -> str:
    """The variable pydantic-settings could not read: the section's own (`ACS_EXPORTER_OTLP`)
    or a nested one (`ACS_EXPORTER_OTLP__HEADERS`), whichever is not JSON."""
    candidates = sorted(
        k.upper()
        for k in os.environ
        if k.upper() == name or k.upper().startswith(name + ENV_DELIMITER)
    )
    for candidate in candidates:
        value = next(v for k, v in os.environ.items() if k.upper() == candidate)
        try:
            json.loads(value)
        except ValueError:
            return candidate
    return name


def _read_yaml(path: Path) -> tuple[dict[str, Any], dict[tuple[str | int, ...], int]]:
    where = str(path)
    try:
        # One parse: the nodes keep their line numbers, and the values are built from them.
        document, node = safeyaml.load(safeyaml.read_text(path, YAML_LIMITS), YAML_LIMITS)
    except OSError as exc:
        raise ConfigError(
            [ConfigProblem("(file)", where, "", f"cannot read the file: {exc.strerror or exc}")]
        ) from None
    except safeyaml.YamlProblem as exc:
        line = "" if exc.line is None else f":{exc.line}"
        column = "" if exc.line is None or exc.column is None else f":{exc.column}"
        key = "(syntax)" if exc.message.startswith("invalid YAML") else "(file)"
        if exc.path is not None:
            key = _dotted(exc.path)
        raise ConfigError([ConfigProblem(key, f"{where}{line}{column}", "", exc.message)]) from None
    if document is None:
        return {}, {}
    if not isinstance(document, dict):
        raise ConfigError(
            [
                ConfigProblem(
                    "(document)",
                    f"{where}:1",
                    type(document).__name__,
                    "expected a mapping of sections (web, log, catalog, metrics, state, "
                    "otlp, sources)",
                )
            ]
        )
    lines: dict[tuple[str | int, ...], int] = {}
    if node is not None:
        for node_path, node_line in _node_lines(node, ()):
            lines.setdefault(node_path, node_line)
    nul = next((loc for loc, text in _strings(document, ()) if "\x00" in text), None)
    if nul is not None:
        origin = _origin(nul, path, lines, {})
        raise ConfigError(
            [ConfigProblem(_dotted(nul), origin, "", "a NUL character is not allowed here")]
        )
    return document, lines


def _strings(
    value: object, loc: tuple[str | int, ...]
) -> Iterator[tuple[tuple[str | int, ...], str]]:
    if isinstance(value, str):
        yield loc, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, (*loc, str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, (*loc, index))


def _node_lines(
    node: yaml.Node, loc: tuple[str | int, ...]
) -> Iterator[tuple[tuple[str | int, ...], int]]:
    yield loc, node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = (*loc, str(key.value))
            yield child, key.start_mark.line + 1
            for sub_loc, line in _node_lines(value, child):
                if sub_loc != child:
                    yield sub_loc, line
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield from _node_lines(item, (*loc, index))


def _problem(
    error: Mapping[str, Any],
    config_file: Path | None,
    lines: Mapping[tuple[str | int, ...], int],
    init: Mapping[str, Mapping[str, object]],
) -> ConfigProblem:
    loc = _clean_loc(tuple(error["loc"]))
    key = _dotted(loc)
    masked = any(part for part in loc if isinstance(part, str) and is_secret_key(part))
    missing = error["type"] == "missing"
    # Only values that cannot be secrets are echoed (numbers, booleans, durations).
    shown = None if missing or masked else shown_value(error.get("input"))
    expected = scrub(_expected(error, loc), error.get("input"))
    return ConfigProblem(key, _origin(loc, config_file, lines, init), shown or "", expected)


def _clean_loc(loc: tuple[str | int, ...]) -> tuple[str | int, ...]:
    # The discriminated union puts the tag into the path: sources.0.simulator.seed.
    if len(loc) >= 3 and loc[0] == "sources" and loc[2] in _SOURCE_MODELS:
        loc = (*loc[:2], *loc[3:])
    # Validators wrapped around a field add a "function-*" step; it means nothing to a user.
    return tuple(p for p in loc if not (isinstance(p, str) and p.startswith("function-")))


def _dotted(loc: Sequence[str | int]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
            continue
        name = part if len(part) <= 40 else part[:37] + "..."  # a pasted blob as a key
        text += f".{name}" if text else name
    return text or "(top level)"


def _expected(error: Mapping[str, Any], loc: tuple[str | int, ...]) -> str:
    kind = error["type"]
    message = str(error["msg"]).removeprefix("Value error, ")
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        return f"unknown key; expected one of: {', '.join(allowed)}" if allowed else message
    if kind == "missing":
        return "required key is missing"
    if kind.startswith("time_delta"):
        return "expected a duration such as 15s, 1m30s, 500ms or 2h (or seconds, or ISO 8601)"
    return message


def _allowed_keys(parent: tuple[str | int, ...]) -> list[str]:
    model: type[BaseModel] = Settings
    for part in parent:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        annotation = field.annotation if field else None
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
        else:
            return []
    if parent[:1] == ("sources",):
        return []  # the entry's own model is not known here; pydantic's message suffices
    return list(model.model_fields)


def _origin(
    loc: tuple[str | int, ...],
    config_file: Path | None,
    lines: Mapping[tuple[str | int, ...], int],
    init: Mapping[str, Mapping[str, object]],
) -> str:
    if len(loc) >= 2 and isinstance(loc[0], str) and loc[1] in init.get(loc[0], {}):
        return f"command-line flag --{loc[0]}.{str(loc[1]).replace('_', '-')}"
    for size in range(len(loc), 0, -1):
        name = ENV_PREFIX + ENV_DELIMITER.join(str(p) for p in loc[:size]).upper()
        if any(key.upper() == name for key in os.environ):
            return f"environment variable {name}"
    for size in range(len(loc), 0, -1):
        line = lines.get(loc[:size])
        if line is not None:
            return f"{config_file}:{line}"
    return str(config_file) if config_file else "defaults"


def masked_dump(settings: Settings) -> dict[str, Any]:
    """The effective configuration as plain data, durations readable, secrets masked."""
    data = settings.model_dump(mode="python")
    data["sources"] = [source.model_dump(mode="python") for source in settings.effective_sources()]
    plain: dict[str, Any] = _plain(data, ())
    return plain


def _plain(value: object, path: tuple[str, ...]) -> Any:  # noqa: PLR0911
    if isinstance(value, Mapping):
        return {str(k): _plain(v, (*path, str(k))) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v, path) for v in value]
    if path and is_secret_key(path[-1]) and value is not None:
        return "***"
    if any(is_secret_key(p) for p in path) and isinstance(value, str):
        return "***"
    if isinstance(value, str):
        return mask_text(value)  # a URL's user name, password and query
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, Path):
        return str(value)
    return value
