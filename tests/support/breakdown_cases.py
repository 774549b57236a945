"""The shared table of raw values -> breakdown label (definitions/breakdowns.py).

One table, run through the Python rules (tests/definitions/test_breakdowns.py) and through the
KQL rules on fixture rows in a local Log Analytics (tests/sources/loganalytics/
test_breakdowns.py), through every file format and through the raw query: every path must
give exactly these labels. Values are as the columns hold them; None is a missing value (Kusto
has the empty string instead).
"""

from __future__ import annotations

from typing import Final

RESOURCE_PREFIX: Final = (
    "/subscriptions/0b7e3c2d-1111-2222-3333-444455556666/resourceGroups/RG-Calls"
    "/providers/Microsoft.Communication/CommunicationServices/"
)

# (label, raw value, expected label value)
CASES: Final[tuple[tuple[str, str | None, str], ...]] = (
    ("resource", RESOURCE_PREFIX + "ACS-PROD", "acs-prod"),
    ("resource", RESOURCE_PREFIX.upper() + "ACS-PROD", "acs-prod"),
    ("resource", RESOURCE_PREFIX + "acs-staging/", "acs-staging"),
    ("resource", "acs-lonely", "acs-lonely"),
    ("resource", "", "unknown"),
    ("resource", None, "unknown"),
    ("resource", "/", "unknown"),
    ("sdk_version", "1.30.1", "1.30"),
    ("sdk_version", "1.29.0-beta.2", "1.29"),
    ("sdk_version", "1.31.0", "1.31"),
    ("sdk_version", "10.2", "10.2"),
    ("sdk_version", "azure-communication-calling/1.28.4", "1.28"),
    ("sdk_version", "Redacted", "unknown"),
    ("sdk_version", "", "unknown"),
    ("sdk_version", None, "unknown"),
    ("sdk_version", "2", "unknown"),
    ("sdk_version", "latest", "unknown"),
    ("os", "Windows 10.0.19045", "windows"),
    ("os", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0", "windows"),
    ("os", "Win32", "windows"),
    ("os", "macOS 14.1", "macos"),
    ("os", "Mac OS X 10_15_7", "macos"),
    ("os", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15", "macos"),
    ("os", "Darwin 23.1.0", "macos"),
    ("os", "iOS 17.1.2", "ios"),
    ("os", "iPadOS 17.1", "ios"),
    ("os", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15", "ios"),
    ("os", "Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X) AppleWebKit/605.1.15", "ios"),
    ("os", "Android 14", "android"),
    ("os", "Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 Chrome/131.0", "android"),
    ("os", "Linux 6.1.0-13-amd64", "linux"),
    ("os", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0", "linux"),
    ("os", "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36", "linux"),
    ("os", "Ubuntu 22.04", "linux"),
    ("os", "Microsoft Teams Room", "other"),
    ("os", "PlayStation 5", "other"),
    ("os", "Redacted", "unknown"),
    ("os", "REDACTED", "unknown"),
    ("os", "", "unknown"),
    ("os", None, "unknown"),
)

# The ACSCallSummary column each label is read from.
COLUMNS: Final = {"resource": "_ResourceId", "sdk_version": "SdkVersion", "os": "OsVersion"}
# The diagnostic-settings spelling: resourceId is a top-level field, the others properties.
PROPERTIES: Final = {"resource": "resourceId", "sdk_version": "sdkVersion", "os": "osVersion"}
