"""The platform metrics are counted like tables, but never read from log exports."""

from __future__ import annotations

from acs_exporter.definitions import tables


def test_platform_metrics_are_counted_but_no_log_reader_knows_them() -> None:
    for table in tables.PLATFORM_METRICS:
        assert table in tables.counted()
        assert tables.by_state_key(table.state_key) is table  # its saved counts are read back
        # The file readers and the KQL see the log tables only: a record that names the metric
        # is another table (rejected as such), never read as one.
        assert table not in tables.registered()
        assert tables.by_spelling(table.name) is None
