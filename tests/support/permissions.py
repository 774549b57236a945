"""Files and directories the exporter under test cannot read, also when the tests run as root.

File modes do not stop root (CI runs the tests as root): there a closed path is given to
`nobody` (uid 65534) with no access for others, and the exporter runs under `setpriv` without
the capabilities that override file modes (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH), so it gets
`Permission denied` as any other user would. As another user, mode 000 suffices."""

from __future__ import annotations

import os
from pathlib import Path

from support.daemon_helpers import EXPORTER

NOBODY = 65534
_DROP = "-dac_override,-dac_read_search"
# The exporter's command, bound by file modes (see above).
BOUND_BY_MODES = (
    ["setpriv", f"--inh-caps={_DROP}", f"--bounding-set={_DROP}", *EXPORTER]
    if os.geteuid() == 0
    else EXPORTER
)


def close(path: Path) -> None:
    """Make `path` unreadable (a file) or unlistable and untraversable (a directory) to
    BOUND_BY_MODES."""
    if os.geteuid() == 0:
        os.chown(path, NOBODY, NOBODY)
        path.chmod(0o700 if path.is_dir() else 0o600)
    else:
        path.chmod(0)


def reopen(path: Path) -> None:
    """Undo `close`: readable (and traversable) by everyone."""
    path.chmod(0o755 if path.is_dir() else 0o644)
