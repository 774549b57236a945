"""Settings of the `azure_blob` state backend (`state.azure_blob`), read at every start-up.

Kept apart from the backend (blob_store.py, leadership.py) so reading the configuration never
imports the Azure Storage SDK.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from acs_exporter.inputs.types import READ_DURATION, between, check_http_url

# Azure Blob Storage accepts leases of 15 to 60 seconds (or infinite, which a dead leader would
# hold for ever): the range is the service's, not ours.
LeaseDuration = Annotated[
    timedelta, READ_DURATION, between(timedelta(seconds=15), timedelta(seconds=60))
]
RefreshInterval = Annotated[
    timedelta, READ_DURATION, between(timedelta(milliseconds=200), timedelta(minutes=1))
]
# The environment variable read when credential is `connection_string` (never a config key:
# it holds the account key).
CONNECTION_STRING_ENV = "AZURE_STORAGE_CONNECTION_STRING"


class AzureBlobStateSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    container_url: str = Field(
        description=(
            "URL of the blob container holding the checkpoint, "
            "e.g. https://<account>.blob.core.windows.net/acs-exporter."
        )
    )
    blob_name: str = Field(
        "checkpoint.json", min_length=1, max_length=1024, description="Name of the checkpoint blob."
    )
    lease_duration: LeaseDuration = Field(
        timedelta(seconds=30),
        description=(
            "Leadership lease on the checkpoint blob (15s to 60s): a standby takes over at most "
            "this long after the leader is lost."
        ),
    )
    refresh_interval: RefreshInterval = Field(
        timedelta(seconds=5),
        description="How often a standby re-reads the leader's checkpoint (and tries the lease).",
    )
    auth_mode: Literal["default", "connection_string"] = Field(
        "default",
        description=(
            "`default`: DefaultAzureCredential (workload identity); `connection_string`: the "
            f"{CONNECTION_STRING_ENV} environment variable (Azurite, tests)."
        ),
    )

    @field_validator("container_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        checked = check_http_url(value)
        parts = urlsplit(checked)
        # A shared access signature is no documented way in (auth_mode says how the exporter
        # authenticates), and one here would be sent alongside the credential's token and
        # printed wherever the URL is: refused, as a user name or password is.
        if "@" in parts.netloc or parts.query or parts.fragment:
            raise ValueError(
                "expected the container's URL without a user name, password, query (a shared "
                "access signature) or fragment: the exporter authenticates as auth_mode says "
                f"(a SAS belongs in {CONNECTION_STRING_ENV}'s SharedAccessSignature)"
            )
        if not parts.path.strip("/"):
            raise ValueError("expected the container's URL, ending in its name")
        return checked

    @model_validator(mode="after")
    def _token_over_https(self) -> AzureBlobStateSettings:
        # The storage SDK sends a bearer token over https:// only, and refuses at the first
        # request otherwise; with connection_string the URL names only the container.
        if self.auth_mode == "default" and not self.container_url.startswith("https://"):
            raise ValueError(
                "state.azure_blob.auth_mode default (a bearer token) needs an https:// "
                "container_url; use auth_mode connection_string for a local emulator"
            )
        return self

    @property
    def container_name(self) -> str:
        """The URL's last path segment (never its query)."""
        return urlsplit(self.container_url).path.rstrip("/").rsplit("/", 1)[-1]
