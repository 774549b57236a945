"""From a source's batch to saved, exposed counts: aggregation through the catalog (aggregate),
the cardinality guard (guard), the cumulative state (state) and its checkpoint (checkpoint), and
the polling loop that applies each batch all or nothing (daemon, backoff, reasons)."""
