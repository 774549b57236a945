"""The Prometheus exporter-toolkit web configuration file: TLS and basic auth.

Same format as every Go exporter's `--web.config.file`, so one file and one habit serve all of a
team's exporters. Supported keys are validated strictly; keys of the toolkit this exporter does
not implement are refused by name rather than ignored (ignoring a security setting is a hole).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import ssl
import threading
from pathlib import Path
from typing import Literal

import bcrypt
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from acs_exporter.inputs.document import (
    Document,
    Location,
    YamlLimits,
    YamlProblem,
    nul_location,
    read_text,
)
from acs_exporter.inputs.errors import InputError, InputProblem
from acs_exporter.inputs.redact import dotted
from acs_exporter.inputs.types import FilePath, header_problem
from acs_exporter.inputs.validation import (
    ErrorDetails,
    Translation,
    has_secret_key,
    in_file,
    pydantic_message,
)

# `$2y$10$` + 22 characters of salt + 31 of hash, in bcrypt's base64 alphabet.
_BCRYPT_HASH = re.compile(r"^\$2[aby]\$(?P<cost>\d\d)\$[./A-Za-z0-9]{53}$")
BCRYPT_MIN_COST, BCRYPT_MAX_COST = 4, 31  # what bcrypt (Go's and Python's) accepts
BCRYPT_MAX_PASSWORD_BYTES = 72  # bcrypt reads no further
# Salt and hash of no password anybody knows. Checked, at the cost of the configured hashes,
# when the user is unknown, so an unknown user name takes as long as a wrong password.
_DUMMY_SALT_AND_HASH = "eLrPB/lyUFmtXMnK02AVPOFnqcltG.B2EJQ.AKOtND9nGn56TA/0a"

# Set by the server itself: a configured copy would be a duplicate or a contradiction.
_SERVER_HEADERS = frozenset(
    {
        "connection",
        "content-encoding",
        "content-length",
        "content-type",
        "date",
        "server",
        "transfer-encoding",
        "vary",
        "www-authenticate",
    }
)

ClientAuth = Literal[
    "NoClientCert",
    "RequestClientCert",
    "RequireAnyClientCert",
    "VerifyClientCertIfGiven",
    "RequireAndVerifyClientCert",
]
TlsVersion = Literal["TLS10", "TLS11", "TLS12", "TLS13"]
_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}


# Go's crypto/tls names (what exporter-toolkit's cipher_suites takes) -> OpenSSL's, for TLS 1.0
# to 1.2. Names of suites OpenSSL no longer ships (RC4, 3DES) are unknown here.
CIPHER_SUITES = {
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": "ECDHE-ECDSA-AES128-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": "ECDHE-ECDSA-AES256-SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": "ECDHE-RSA-AES128-SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": "ECDHE-RSA-AES256-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256": "ECDHE-ECDSA-AES128-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256": "ECDHE-RSA-AES128-SHA256",
    "TLS_RSA_WITH_AES_128_GCM_SHA256": "AES128-GCM-SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384": "AES256-GCM-SHA384",
    "TLS_RSA_WITH_AES_128_CBC_SHA": "AES128-SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA": "AES256-SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA256": "AES128-SHA256",
}
# TLS 1.3 suites are accepted and, as in Go, not configurable: TLS 1.3 always offers them.
TLS13_CIPHER_SUITES = frozenset(
    {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"}
)


class WebConfigError(InputError):
    subject = "web config"


def _refused(where: Path | str, message: str, field: str = "") -> WebConfigError:
    return WebConfigError([InputProblem(str(where), field, "", message)])


class TlsServerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Checked as the main config's paths: never empty, never with a NUL.
    cert_file: FilePath
    key_file: FilePath
    client_auth_type: ClientAuth = "NoClientCert"
    client_ca_file: FilePath | None = None
    min_version: TlsVersion = "TLS12"
    max_version: TlsVersion | None = None
    cipher_suites: list[str] | None = None
    prefer_server_cipher_suites: bool = True

    @field_validator("cipher_suites")
    @classmethod
    def _known_suites(cls, suites: list[str] | None) -> list[str] | None:
        known = CIPHER_SUITES.keys() | TLS13_CIPHER_SUITES
        unknown = [name for name in suites or [] if name not in known]
        if unknown:
            raise ValueError(
                f"unknown cipher suite(s) {', '.join(map(repr, unknown))}; known: Go's "
                f"crypto/tls names, e.g. TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
            )
        if suites is not None and not suites:
            raise ValueError("an empty list would allow no cipher suite; leave the key out")
        return suites

    @field_validator("max_version")
    @classmethod
    def _version_range(
        cls, max_version: TlsVersion | None, info: ValidationInfo
    ) -> TlsVersion | None:
        # Python would accept the context and then fail every handshake.
        min_version = info.data.get("min_version")
        if (
            max_version is not None
            and min_version is not None
            and _VERSIONS[max_version] < _VERSIONS[min_version]
        ):
            raise ValueError(
                f"below min_version {min_version}: no TLS version is left "
                f"(min_version {min_version} is above max_version {max_version})"
            )
        return max_version


class HttpServerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    headers: dict[str, str] = Field(default_factory=dict)
    http2: bool = True  # accepted for compatibility; this server speaks HTTP/1.1

    @field_validator("headers")
    @classmethod
    def _sendable(cls, headers: dict[str, str]) -> dict[str, str]:
        problems = []
        for name, value in headers.items():
            problem = header_problem(name, value)
            if problem is None and name.lower() in _SERVER_HEADERS:
                problem = f"header {name!r} is set by the server and cannot be configured"
            if problem:
                problems.append(problem)
        if problems:
            raise ValueError("; ".join(problems))
        return headers


class WebConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tls_server_config: TlsServerConfig | None = None
    http_server_config: HttpServerConfig = Field(default_factory=HttpServerConfig)
    basic_auth_users: dict[str, str] = Field(default_factory=dict)
    _ssl_context: ssl.SSLContext | None = PrivateAttr(default=None)

    def ssl_context(self, origin: Path) -> ssl.SSLContext | None:
        """The server's TLS context (None without tls_server_config), built on first use:
        load_web_config builds it to fail early, and the server then uses that one."""
        if self.tls_server_config is None:
            return None
        if self._ssl_context is None:
            self._ssl_context = build_ssl_context(self.tls_server_config, origin)
        return self._ssl_context

    @field_validator("basic_auth_users")
    @classmethod
    def _bcrypt_hashes(cls, users: dict[str, str]) -> dict[str, str]:
        # Messages name the user, never the hash; every bad user at once.
        problems = [p for user, hashed in users.items() if (p := _user_problem(user, hashed))]
        if problems:
            raise ValueError("; ".join(problems))
        return users


def _user_problem(user: str, hashed: str) -> str | None:
    if not user or ":" in user:
        return f"user name {user!r} must be non-empty and contain no ':'"
    match = _BCRYPT_HASH.match(hashed)
    if match is None:
        return (
            f"the password of user {user!r} must be a bcrypt hash ($2y$..., 60 characters of "
            "./A-Za-z0-9 after the cost), e.g. from `htpasswd -nBC 10 \"\" | tr -d ':\\n'`"
        )
    cost = int(match["cost"])
    if not BCRYPT_MIN_COST <= cost <= BCRYPT_MAX_COST:
        return (
            f"the bcrypt hash of user {user!r} has cost {cost}, outside "
            f"{BCRYPT_MIN_COST}..{BCRYPT_MAX_COST}"
        )
    if not _decodable(hashed):
        return f"the bcrypt hash of user {user!r} has a malformed salt"
    return None


def bcrypt_cost(hashed: str | bytes) -> int:
    text = hashed.decode() if isinstance(hashed, bytes) else hashed
    return int(text[4:6])


def _decodable(hashed: str) -> bool:
    """Whether bcrypt accepts the salt, checked at the lowest cost (a millisecond) rather than
    the hash's own, which could take seconds; bcrypt raises on a salt it cannot decode."""
    try:
        bcrypt.checkpw(b"", f"{hashed[:4]}{BCRYPT_MIN_COST:02d}{hashed[6:]}".encode())
    except ValueError:
        return False
    return True


def dummy_hash(cost: int) -> bytes:
    return f"$2b${cost:02d}${_DUMMY_SALT_AND_HASH}".encode()


# The web config is small: the same bounded loader as the main config (no alias bombs, no
# duplicate keys, no deep nesting), with its own limits.
WEB_YAML_LIMITS = YamlLimits(max_bytes=1 << 20, max_depth=16, max_nodes=10_000)


def load_web_config(path: Path) -> WebConfig:
    document = _read(path)
    try:
        config = WebConfig.model_validate(document.value)
    except ValidationError as exc:
        translation = Translation(
            where=in_file(path, document),
            secret=_secret,
            explain=_explain,
            model=WebConfig,
            scrub_everywhere=False,  # "min_version TLS13 is above max_version TLS12"
        )
        raise WebConfigError(translation.problems(exc)) from None
    tls = config.tls_server_config
    if tls is not None:
        _resolve_tls_files(tls, path)
        config.ssl_context(path)  # fail at start-up, not at the first scrape
    return config


def _read(path: Path) -> Document:
    # PyYAML is loaded only when there is a file to read (~20 ms of every start).
    from acs_exporter.inputs import safeyaml

    try:
        document = safeyaml.load(read_text(path, WEB_YAML_LIMITS), WEB_YAML_LIMITS)
    except OSError as exc:
        raise _refused(path, f"cannot read it ({exc.strerror})") from None
    except YamlProblem as exc:
        raise _refused(f"{path}:{exc.line}" if exc.line else path, exc.message) from None
    if document.value is None:
        return Document({}, {})
    if not isinstance(document.value, dict):
        raise _refused(f"{path}:1", "expected a mapping at the top level")
    # As in the main config: any string, not only the paths (a NUL is binary data or an escape).
    nul = nul_location(document.value)
    if nul is not None:
        position = document.position(nul)
        where = f"{path}:{position.line}" if position is not None else path
        raise _refused(where, "a NUL character is not allowed here", dotted(nul))
    return document


def _secret(loc: Location) -> bool:
    """Hashes, and header values (which may carry tokens), are never echoed."""
    return loc[:1] == ("basic_auth_users",) or has_secret_key(loc)


def _explain(error: ErrorDetails, loc: Location) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown or unsupported key"
    return pydantic_message(error, loc)


def _resolve_tls_files(tls: TlsServerConfig, path: Path) -> None:
    """Files relative to the web config file, as in exporter-toolkit."""
    base = path.parent
    tls.cert_file = base / tls.cert_file
    tls.key_file = base / tls.key_file
    if tls.client_ca_file is not None:
        tls.client_ca_file = base / tls.client_ca_file
    # Python's TLS cannot ask for a client certificate without verifying it, so every mode
    # but NoClientCert needs the CA; RequestClientCert and RequireAnyClientCert then verify
    # a given certificate (stricter than Go's exporter-toolkit, never looser).
    if tls.client_auth_type != "NoClientCert" and tls.client_ca_file is None:
        raise _refused(
            path,
            f"{tls.client_auth_type} needs client_ca_file",
            "tls_server_config.client_auth_type",
        )


def build_ssl_context(tls: TlsServerConfig, origin: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = _VERSIONS[tls.min_version]
    if tls.max_version:
        context.maximum_version = _VERSIONS[tls.max_version]
    if tls.cipher_suites is not None:
        legacy = [CIPHER_SUITES[name] for name in tls.cipher_suites if name in CIPHER_SUITES]
        try:
            # Only TLS 1.0-1.2 suites are set: a list of only TLS 1.3 names leaves 1.2 unchanged.
            if legacy:
                context.set_ciphers(":".join(legacy))
        except ssl.SSLError as exc:
            raise _refused(
                origin,
                f"{tls.cipher_suites}: this OpenSSL cannot use them ({exc})",
                "tls_server_config.cipher_suites",
            ) from None
    if tls.prefer_server_cipher_suites:
        context.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    try:
        context.load_cert_chain(tls.cert_file, tls.key_file)
    except (OSError, ssl.SSLError, ValueError) as exc:  # ValueError: a path open() refuses
        raise _refused(
            origin,
            f"cannot load tls_server_config cert_file {tls.cert_file} / "
            f"key_file {tls.key_file}: {exc}",
        ) from None
    if tls.client_ca_file is not None:
        try:
            context.load_verify_locations(tls.client_ca_file)
        except (OSError, ssl.SSLError, ValueError) as exc:
            raise _refused(
                origin, f"cannot load client_ca_file {tls.client_ca_file}: {exc}"
            ) from None
    context.verify_mode = {
        "NoClientCert": ssl.CERT_NONE,
        "RequestClientCert": ssl.CERT_OPTIONAL,
        "RequireAnyClientCert": ssl.CERT_REQUIRED,
        "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
        "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
    }[tls.client_auth_type]
    return context


class BasicAuth:
    """Checks credentials against bcrypt hashes; remembers recent successes, because bcrypt is
    deliberately slow (tens of ms) and Prometheus sends the same credentials every scrape."""

    MAX_CACHE = 256

    def __init__(self, users: dict[str, str]) -> None:
        self._users = {user: hashed.encode() for user, hashed in users.items()}
        # The highest configured cost: with one cost for all users (the sane setup) an unknown
        # user costs exactly what a wrong password does.
        self._dummy = dummy_hash(max((bcrypt_cost(h) for h in self._users.values()), default=10))
        self._verified: set[bytes] = set()
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return bool(self._users)

    def check(self, user: str, password: str) -> bool:
        hashed = self._users.get(user)
        fingerprint = hashlib.sha256(
            user.encode() + b"\0" + password.encode() + b"\0" + (hashed or b"")
        ).digest()
        with self._lock:
            if any(hmac.compare_digest(fingerprint, known) for known in self._verified):
                return True
        secret = password.encode()
        # bcrypt raises past 72 bytes; the hash is still computed (on what bcrypt reads), so
        # a long password takes as long as any other before it is refused.
        try:
            matched = bcrypt.checkpw(secret[:BCRYPT_MAX_PASSWORD_BYTES], hashed or self._dummy)
        except ValueError:  # what bcrypt cannot check cannot be right
            matched = False
        valid = matched and hashed is not None and len(secret) <= BCRYPT_MAX_PASSWORD_BYTES
        if valid:
            with self._lock:
                if len(self._verified) >= self.MAX_CACHE:
                    self._verified.clear()
                self._verified.add(fingerprint)
        return valid
