"""`acs-exporter` as a real process, with two test-only knobs from the environment.

- TEST_SHUTDOWN_GRACE_SECONDS: a shorter shutdown grace period, so a test of "a poll longer
  than the grace" need not wait the real 10 s.
- TEST_FAKE_LA_TOKEN: the bearer token of tests/sources/loganalytics/fake_server.py, handed out
  in place of DefaultAzureCredential (which needs Azure). Everything else is the real exporter,
  the real Azure SDK and the real signal handling.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from acs_exporter.cli import main
from acs_exporter.pipeline import daemon


class _FakeCredential:
    def __init__(self, token: str) -> None:
        self.token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        return AccessToken(self.token, int(time.time()) + 3600)


if __name__ == "__main__":
    grace = os.environ.get("TEST_SHUTDOWN_GRACE_SECONDS")
    if grace:
        daemon.SHUTDOWN_GRACE_SECONDS = float(grace)
    token = os.environ.get("TEST_FAKE_LA_TOKEN")
    if token:
        from acs_exporter.sources.loganalytics import source as la_source

        la_source._default_credential = _FakeCredential(token)
    sys.exit(main())
