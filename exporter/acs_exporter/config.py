"""The exporter's configuration: one YAML file, `ACS_EXPORTER_` environment overrides, CLI flags.

Precedence, highest first: command-line flags, environment (`ACS_EXPORTER_<SECTION>__<KEY>`),
the YAML file, defaults. Validation errors are collected into a `ConfigError` whose every problem
names the key, where it came from (file:line or environment variable) and what was expected, so
`run` and `check-config` can print them without a traceback. The value written is shown only
when it cannot be a secret (a number, a boolean, a duration): see `acs_exporter.inputs.redact`.
The file is read by `acs_exporter.inputs.safeyaml` (bounded size, depth and alias expansion; no
duplicate or non-string keys).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

if TYPE_CHECKING:
    from pydantic_settings.exceptions import SettingsError

from acs_exporter.definitions.metrics import CALL_ENDS, CATEGORY_DISAGREEMENTS
from acs_exporter.definitions.tables import ExtraLabel
from acs_exporter.inputs.document import (
    Document,
    Location,
    YamlLimits,
    YamlProblem,
    json_depth,
    nul_location,
    read_text,
)
from acs_exporter.inputs.errors import InputError, InputProblem
from acs_exporter.inputs.redact import dotted, is_secret_key, mask_text
from acs_exporter.inputs.types import (
    READ_DURATION,
    FilePath,
    between,
    check_http_url,
    check_request_headers,
    format_duration,
    parse_duration,
)
from acs_exporter.inputs.validation import (
    ErrorDetails,
    Translation,
    pydantic_message,
    without_pydantic_steps,
)
from acs_exporter.pipeline.blob_settings import AzureBlobStateSettings
from acs_exporter.sources import registry
from acs_exporter.sources.simulator.settings import SimulatorSettings

ENV_PREFIX = "ACS_EXPORTER_"
ENV_DELIMITER = "__"
DEFAULT_PORT = 10142
__all__ = ["format_duration", "parse_duration"]  # re-exported: their home is settings_types

# The config file: a few KiB in practice; anything near these limits is a mistake or an attack.
YAML_LIMITS = YamlLimits(max_bytes=1 << 20, max_depth=32, max_nodes=100_000)

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

    telemetry_path: str = Field(
        "/metrics",
        description="Path of the metrics endpoint (CLI --web.telemetry-path); /healthz, /readyz "
        "and the landing page / stay where they are.",
    )

    @field_validator("listen_address")
    @classmethod
    def _host_port(cls, value: str) -> str:
        split_listen_address(value)
        return value

    @field_validator("telemetry_path")
    @classmethod
    def _telemetry_path(cls, value: str) -> str:
        return check_telemetry_path(value)


# Paths the server answers itself, so the metrics cannot be served there.
RESERVED_PATHS = ("/", "/healthz", "/readyz")
_URL_PATH = re.compile(r"/[A-Za-z0-9\-._~!$&'()*+,;=:@/]*")


def check_telemetry_path(value: str) -> str:
    """A path as the request line carries it: compared byte for byte, so only the characters
    RFC 3986 allows unencoded in a path (no %-escapes, spaces, query or fragment)."""
    if not _URL_PATH.fullmatch(value):
        raise ValueError(
            "expected a URL path starting with / of letters, digits and -._~!$&'()*+,;=:@/ "
            "(no spaces, ?, # or %), e.g. /metrics"
        )
    if value in RESERVED_PATHS:
        raise ValueError(f"expected a path other than {', '.join(RESERVED_PATHS)}, e.g. /metrics")
    return value


def split_listen_address(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdecimal() or len(port) > 5 or not 0 <= int(port) <= 65535:
        raise ValueError("expected host:port with a port from 0 to 65535, e.g. 0.0.0.0:10142")
    return host.strip("[]") or "0.0.0.0", int(port)  # noqa: S104 (the documented default)


class LogSettings(_Section):
    format: Literal["json", "logfmt", "text"] = Field(
        "json",
        description="Log format (CLI --log.format): json or logfmt for log pipelines, text for "
        "a terminal.",
    )
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
        description=f"Extra labels on {CALL_ENDS.sample}, from the allow-list.",
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
            f"ResultCategory disagree ({CATEGORY_DISAGREEMENTS.sample} counts them)."
        ),
    )

    @field_validator("extra_labels")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("each extra label may appear once")
        return value


class StateSettings(_Section):
    backend: Literal["file", "azure_blob"] = Field(
        "file",
        description=(
            "`file`: the checkpoint at state.path (one replica); `azure_blob`: in an Azure "
            "blob, with a leader and hot standbys (state.azure_blob)."
        ),
    )
    path: FilePath | None = Field(
        None, description="Checkpoint file (cursor + counts); null keeps state in memory only."
    )
    azure_blob: AzureBlobStateSettings | None = Field(
        None, description="The checkpoint blob and its lease (backend azure_blob)."
    )

    @model_validator(mode="after")
    def _backend_settings(self) -> StateSettings:
        if self.backend == "azure_blob" and self.azure_blob is None:
            raise ValueError("state.backend azure_blob needs state.azure_blob.container_url")
        if self.backend == "azure_blob" and self.path is not None:
            raise ValueError(
                "state.path is the file backend's checkpoint; with backend azure_blob the "
                "checkpoint is the blob: remove state.path"
            )
        return self


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

    @field_validator("headers")
    @classmethod
    def _sendable(cls, headers: dict[str, str]) -> dict[str, str]:
        return check_request_headers(headers)


# `type` -> settings model, from the source registry (read once: the model is built from it).
SOURCE_MODELS: dict[str, type[BaseModel]] = {t.name: t.settings for t in registry.freeze()}


def _prepare_source(value: object) -> object:
    """Check the `type` tag with a clear message (the source models read their own durations).
    The message never quotes the value: it could be anything, a secret included."""
    if not isinstance(value, Mapping):
        return value
    kinds = ", ".join(SOURCE_MODELS)
    if "type" not in value:
        raise ValueError(f"missing key `type`: expected one of {kinds}")
    if not isinstance(value["type"], str) or value["type"] not in SOURCE_MODELS:
        raise ValueError(f"unknown source type: expected one of {kinds}")
    return value


AnySourceSettings = registry.SourceSettings
if TYPE_CHECKING:
    SourceSettings = AnySourceSettings
else:  # the discriminated union of the registered models, validated by `type`
    SourceSettings = Annotated[
        Annotated[Union[tuple(SOURCE_MODELS.values())], Field(discriminator="type")],  # noqa: UP007
        BeforeValidator(_prepare_source),
    ]


class Settings(BaseModel):
    """The whole configuration. Validated as pydantic-settings' BaseSettings would validate it
    (defaults validated, unknown keys refused), from the flags, the environment and the file
    merged by `_merged` with the same precedence: BaseSettings itself is imported only when an
    `ACS_EXPORTER_*` variable is set (`_environment_values`), because pydantic-settings and the
    asyncio it imports cost ~40 ms at every start."""

    model_config = ConfigDict(extra="forbid", validate_default=True)

    web: WebSettings = Field(default_factory=lambda: WebSettings.model_validate({}))
    log: LogSettings = Field(default_factory=lambda: LogSettings.model_validate({}))
    catalog: CatalogSettings = Field(default_factory=lambda: CatalogSettings.model_validate({}))
    metrics: MetricsSettings = Field(default_factory=lambda: MetricsSettings.model_validate({}))
    state: StateSettings = Field(default_factory=lambda: StateSettings.model_validate({}))
    otlp: OtlpSettings = Field(default_factory=lambda: OtlpSettings.model_validate({}))
    sources: list[SourceSettings] = Field(
        default_factory=list, description="Empty: one simulator with default settings."
    )

    @field_validator("sources")
    @classmethod
    def _unique_source_names(cls, sources: list[AnySourceSettings]) -> list[AnySourceSettings]:
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

    def effective_sources(self) -> list[AnySourceSettings]:
        return list(self.sources) or [SimulatorSettings.model_validate({})]


class ConfigError(InputError):
    subject = "configuration"


def load_settings(
    config_file: Path | None = None,
    overrides: Mapping[str, Mapping[str, object]] | None = None,
) -> Settings:
    """Validate YAML file + environment + CLI `overrides` ({"web": {"listen_address": ...}})."""
    document = _read_yaml(config_file) if config_file else Document({}, {})
    _check_environment()
    init = {section: dict(values) for section, values in (overrides or {}).items() if values}
    environment = _environment_values()
    layers = _Layers(config_file, document, environment, init)
    values = _merged(init, environment, document.value)
    # Checked on what is validated, whichever layer it came from (file, variable or flag).
    nul = nul_location(values)
    if nul is not None:
        raise ConfigError(
            [
                InputProblem(
                    layers.origin(nul), dotted(nul), "", "a NUL character is not allowed here"
                )
            ]
        )
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        raise ConfigError(_translation(layers).problems(exc)) from None


def _merged(*layers: Mapping[str, Any]) -> dict[str, Any]:
    """One document from `layers`, the first winning: mappings merged key by key at every
    depth, any other value replaced whole (pydantic-settings' deep_update, in its order)."""
    merged: dict[str, Any] = {}
    for layer in reversed(layers):
        merged = _deep_update(merged, layer)
    return merged


def _deep_update(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    result = dict(base)
    for key, value in update.items():
        if isinstance(result.get(key), dict) and isinstance(value, dict):
            result[key] = _deep_update(result[key], value)
        else:
            result[key] = value
    return result


def _environment_values() -> dict[str, Any]:
    """The `ACS_EXPORTER_*` variables as a document, read by pydantic-settings' own environment
    source (JSON sections and lists, `__` nesting, names in any case): imported only when such
    a variable is set."""
    if not any(name.upper().startswith(ENV_PREFIX) for name in os.environ):
        return {}
    from pydantic_settings.exceptions import SettingsError

    source = _environment_source()(
        _environment_model(),
        case_sensitive=False,
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=ENV_DELIMITER,
    )
    try:
        return dict(source())
    except SettingsError as exc:
        raise ConfigError([_settings_problem(exc)]) from None
    except _DuplicateKey as exc:
        raise ConfigError([_duplicate_problem(exc)]) from None


class _DuplicateKey(Exception):
    """A JSON object in a variable has a key twice (not a ValueError: pydantic-settings would
    take it for JSON it cannot read, or for a plain string)."""

    def __init__(self, key: str, text: str) -> None:
        super().__init__(key)
        self.key = key
        self.text = text


@functools.cache
def _environment_source() -> type[Any]:
    """pydantic-settings' environment source, refusing a duplicate key in the JSON it decodes
    (json keeps the last one silently; the YAML loader refuses duplicates)."""
    from pydantic_settings import EnvSettingsSource

    class StrictEnvSettingsSource(EnvSettingsSource):
        def decode_complex_value(self, field_name: str, field: Any, value: Any) -> Any:
            if isinstance(value, str):
                with contextlib.suppress(ValueError):  # not JSON: the source decides
                    json.loads(value, object_pairs_hook=functools.partial(_unique_keys, value))
            return super().decode_complex_value(field_name, field, value)

    return StrictEnvSettingsSource


def _unique_keys(text: str, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise _DuplicateKey(key, text)
        seen.add(key)
    return dict(pairs)


def _duplicate_problem(exc: _DuplicateKey) -> InputProblem:
    name = next(
        (
            k
            for k, v in sorted(os.environ.items())
            if k.upper().startswith(ENV_PREFIX) and v == exc.text
        ),
        ENV_PREFIX,
    )
    return InputProblem(
        f"environment variable {name}",
        ".".join(_variable_path(name)),
        "",
        f"duplicate key {exc.key!r} (JSON would silently keep the last)",
    )


@functools.cache
def _environment_model() -> type[Any]:
    """`Settings` as a BaseSettings, whose fields the environment source reads (never built:
    the document is validated by `Settings`)."""
    from pydantic_settings import BaseSettings, SettingsConfigDict

    class EnvironmentSettings(Settings, BaseSettings):
        model_config = SettingsConfigDict(
            env_prefix=ENV_PREFIX,
            env_nested_delimiter=ENV_DELIMITER,
            extra="forbid",
            case_sensitive=False,
            defer_build=True,
        )

    return EnvironmentSettings


def _check_environment() -> None:
    """Every `ACS_EXPORTER_*` variable names a section, and has the file's bounds: the
    environment source reads only the variables of a section (any other one would be silently
    ignored, as an unknown key in the file is not), and reads their JSON with the recursive
    json module (RecursionError at a few thousand levels)."""
    problems = [
        problem
        for name, value in sorted(os.environ.items())
        if name.upper().startswith(ENV_PREFIX) and (problem := _variable_problem(name, value))
    ]
    if problems:
        raise ConfigError(problems)


def _variable_problem(name: str, value: str) -> InputProblem | None:
    path = _variable_path(name)
    key = ".".join(path) or "(section)"
    where = f"environment variable {name}"
    if path[0] not in Settings.model_fields:
        return InputProblem(
            where,
            key,
            "",
            f"names no section; expected {ENV_PREFIX}<SECTION> or "
            f"{ENV_PREFIX}<SECTION>{ENV_DELIMITER}<KEY>, the section one of: "
            + ", ".join(Settings.model_fields),
        )
    if len(value) > YAML_LIMITS.max_bytes:
        return InputProblem(where, key, "", "the value is larger than 1 MiB")
    if json_depth(value) > YAML_LIMITS.max_depth:
        return InputProblem(where, key, "", f"nested deeper than {YAML_LIMITS.max_depth} levels")
    return None


def _variable_path(name: str) -> tuple[str, ...]:
    """The keys a variable sets, as the environment source reads them (in lower case)."""
    return tuple(name[len(ENV_PREFIX) :].lower().split(ENV_DELIMITER))


def _settings_problem(exc: SettingsError) -> InputProblem:
    """pydantic-settings could not parse an environment variable (e.g. a list as non-JSON)."""
    match = re.search(r'field "(\w+)"', str(exc))
    key = match[1] if match else "(environment)"
    name = _unparsable_variable(ENV_PREFIX + key.upper())
    return InputProblem(
        f"environment variable {name}",
        key,
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


def _read_yaml(path: Path) -> Document:
    # PyYAML is loaded only when there is a file to read (~20 ms of every start).
    from acs_exporter.inputs import safeyaml

    where = str(path)
    try:
        # One parse: the nodes keep their line numbers, and the values are built from them.
        document = safeyaml.load(read_text(path, YAML_LIMITS), YAML_LIMITS)
    except OSError as exc:
        raise ConfigError(
            [InputProblem(where, "(file)", "", f"cannot read the file: {exc.strerror or exc}")]
        ) from None
    except YamlProblem as exc:
        raise ConfigError([_yaml_problem(where, exc)]) from None
    if document.value is None:
        return Document({}, {})
    if not isinstance(document.value, dict):
        raise ConfigError(
            [
                InputProblem(
                    f"{where}:1",
                    "(document)",
                    type(document.value).__name__,
                    "expected a mapping of sections (web, log, catalog, metrics, state, "
                    "otlp, sources)",
                )
            ]
        )
    return document


def _yaml_problem(where: str, exc: YamlProblem) -> InputProblem:
    line = "" if exc.line is None else f":{exc.line}"
    column = "" if exc.line is None or exc.column is None else f":{exc.column}"
    key = "(syntax)" if exc.message.startswith("invalid YAML") else "(file)"
    if exc.path is not None:
        key = dotted(exc.path) or "(top level)"
    return InputProblem(f"{where}{line}{column}", key, "", exc.message)


def _translation(layers: _Layers) -> Translation:
    return Translation(
        where=layers.origin,
        clean=_clean_loc,
        explain=_expected,
        top_level="(top level)",
        model=Settings,
    )


def _clean_loc(loc: Location) -> Location:
    # The discriminated union puts the tag into the path: sources.0.simulator.seed.
    if len(loc) >= 3 and loc[0] == "sources" and loc[2] in SOURCE_MODELS:
        loc = (*loc[:2], *loc[3:])
    return without_pydantic_steps(loc)


def _expected(error: ErrorDetails, loc: Location) -> str:
    kind = error["type"]
    if kind == "missing":
        return "required key is missing"
    if kind.startswith("time_delta"):
        return "expected a duration such as 15s, 1m30s, 500ms or 2h (or seconds, or ISO 8601)"
    return pydantic_message(error, loc)


# The flags not spelt --SECTION.KEY-WITH-DASHES (commands/common.py names every flag).
_FLAGS_SPELT_OTHERWISE: dict[Location, str] = {("web", "config_file"): "--web.config.file"}


@dataclass(frozen=True)
class _Layers:
    """What the configuration was merged from, to say where a failing value came from: the
    flags (`init`), the environment's document and the file."""

    config_file: Path | None
    document: Document
    environment: Mapping[str, Any]
    init: Mapping[str, Mapping[str, object]]

    def origin(self, loc: Location) -> str:
        if len(loc) >= 2 and isinstance(loc[0], str) and loc[1] in self.init.get(loc[0], {}):
            flag = _FLAGS_SPELT_OTHERWISE.get(
                loc[:2], f"--{loc[0]}.{str(loc[1]).replace('_', '-')}"
            )
            return f"command-line flag {flag}"
        variable = self._variable(loc)
        if variable is not None:
            return f"environment variable {variable}"
        if self.config_file is None:
            return "defaults"
        # A key's own line, else its nearest parent's; not the document's first line.
        position = self.document.position(loc, shallowest=1)
        return (
            f"{self.config_file}:{position.line}" if position is not None else str(self.config_file)
        )

    def _variable(self, loc: Location) -> str | None:
        """The variable that produced the value at `loc`, if the environment's document holds
        it: one naming that key or a key beneath it (surely part of the value:
        ACS_EXPORTER_LOG__LEVEL__X makes log.level a mapping), else the one naming its nearest
        parent (whose JSON holds it), else any of its section's."""
        if not loc or not self._from_environment(loc):
            return None
        steps = tuple(str(step).lower() for step in loc)
        section = sorted(
            (name, path) for name, path in _section_variables().items() if path[0] == steps[0]
        )
        above = [(len(path), name) for name, path in section if steps[: len(path)] == path]
        below = [name for name, path in section if path[: len(steps)] == steps]
        if below:
            return below[0]
        return max(above)[1] if above else next((name for name, _ in section), None)

    def _from_environment(self, loc: Location) -> bool:
        if _holds(self.environment, loc):
            return True
        # A key no layer wrote (a required one missing) is its mapping's: the variable's when
        # the file does not write the key either.
        return (
            len(loc) > 1
            and loc not in self.document.positions
            and _holds(self.environment, loc[:-1])
        )


def _holds(document: Mapping[str, Any], loc: Location) -> bool:
    """Whether the value at `loc` of the merged configuration is this layer's: mappings are
    merged key by key, anything else (a list, a scalar) replaces the lower layers' whole."""
    node: object = document
    for step in loc:
        if not isinstance(node, dict):
            return True
        if step not in node:
            return False
        node = node[step]
    return True


def _section_variables() -> dict[str, tuple[str, ...]]:
    """Each `ACS_EXPORTER_*` variable, as set, with the keys it sets (the environment source
    reads the same ones: _check_environment refused any other)."""
    return {
        name: _variable_path(name) for name in os.environ if name.upper().startswith(ENV_PREFIX)
    }


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
