"""The landing page `/`: the endpoints, and each source's state (up or failing, the last error,
the cursor lag, the last successful poll) with links to the docs.

Every value that comes from outside (a source name from the configuration, an error message
from a service) goes through `html.escape`: the page must not run what a hostile error text or
source name holds.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import UTC, datetime

from acs_exporter.pipeline.source_status import SourceStatus
from acs_exporter.sources.registry import docs_page

DOCS = "https://github.com/acs-exporter/acs-exporter/blob/main/docs/"

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>acs-exporter</title>
<style>table{{border-collapse:collapse}}td,th{{border:1px solid #999;padding:2px 6px;\
text-align:left;vertical-align:top}}.up{{color:#070}}.failing{{color:#b00}}</style></head>
<body>
<h1>acs-exporter {version}</h1>
<p>Prometheus exporter for Azure Communication Services call end reasons.</p>
<ul>
<li><a href="{telemetry_href}">{telemetry_path}</a>: the metrics</li>
<li><a href="healthz">/healthz</a>: the process is alive</li>
<li><a href="readyz">/readyz</a>: every source has been read successfully once</li>
</ul>
<h2>Sources</h2>
{sources}
<p>Docs: <a href="{docs}sources.md">sources</a>, <a href="{docs}configuration.md">configuration</a>,
<a href="{docs}metrics.md">metrics</a>, <a href="{docs}runbooks.md">runbooks</a>.</p>
</body></html>
"""
_HEAD = (
    "<table>\n<tr><th>source</th><th>type</th><th>state</th><th>cursor lag</th>"
    "<th>last successful poll</th><th>last error</th></tr>\n"
)


def render_landing(
    version: str, telemetry_path: str, sources: Sequence[SourceStatus], now: float
) -> str:
    rows = "".join(_row(status, now) for status in sources)
    return _PAGE.format(
        version=_text(version),
        telemetry_path=_text(telemetry_path),
        # Relative, so the page works behind a reverse proxy that serves it under a prefix.
        telemetry_href=_text(telemetry_path.lstrip("/")),
        sources=f"{_HEAD}{rows}</table>" if sources else "<p>No sources configured.</p>",
        docs=DOCS,
    )


def _row(status: SourceStatus, now: float) -> str:
    state = {None: "not polled yet", True: "up", False: "failing"}[status.up]
    css = {None: "", True: "up", False: "failing"}[status.up]
    cells = (
        _text(status.name),
        _text(status.type),
        f'<span class="{css}">{state}</span>',
        _duration(status.cursor_lag(now)),
        _moment(status.last_success, now),
        _error(status, now),
    )
    return "<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>\n"


def _error(status: SourceStatus, now: float) -> str:
    error = status.last_error
    if error is None:
        return "none"
    docs = DOCS + docs_page(status.type)
    return (
        f"<code>{_text(error.reason)}</code> {_moment(error.at, now)}: {_text(error.message)} "
        f'(<a href="{_text(docs)}">what to do</a>)'
    )


def _moment(at: float | None, now: float) -> str:
    if at is None:
        return "never"
    stamp = datetime.fromtimestamp(at, tz=UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    return f"{stamp} ({_duration(max(0.0, now - at))} ago)"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    whole = int(seconds)
    if whole < 120:
        return f"{seconds:.0f}s"
    if whole < 7200:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def _text(value: str) -> str:
    return html.escape(value, quote=True)
