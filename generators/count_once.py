"""Counting once what every replica of a shared-state deployment serves: one definition for
the recording rules (generators/rules.py) and the dashboards (generators/panels.py).

The replicas of a `state.backend: azure_blob` deployment export the leader metric and all serve
the same counters (a standby at most a refresh behind its leader), so a plain sum would count
each call once per replica. Their series differ only in the labels that name the replica, so
they collapse to the highest copy over those labels; an exporter without the leader metric (the
file backend, one or several in a job) is summed as it is.

Collapsing *without* the replica's labels, rather than *by* a list of labels to keep, leaves
every other label alone: two deployments told apart by any label (a tenant, a namespace the
rules do not group by) stay two, and a label the metric gains later needs no change here.
"""

from __future__ import annotations

# Target labels Prometheus adds to every scraped series: which exporter process it came from.
TARGET = "job, instance"
# The labels that differ between replicas of one deployment and nothing else does: the address
# each is scraped at, and the pod (Kubernetes service discovery, the chart's ServiceMonitor).
# The recording rules drop the same two (docs/alerting.md, aggregation_labels).
REPLICA_LABELS = "instance, pod"


def one_copy(vector: str, leader: str, *, one_line: bool = False) -> str:
    """`vector` (per scraped series) with one copy of what replicas share. `leader` selects the
    leader metric (`acs_exporter_state_leader`, with whatever matchers the caller filters by).
    Laid out on lines for rule files, or on `one_line` for a dashboard's query."""
    alone = (vector, f"unless on ({TARGET}) {leader}")
    shared = (vector, f"and on ({TARGET}) {leader}")
    if one_line:
        return f"({' '.join(alone)}) or max without ({REPLICA_LABELS}) ({' '.join(shared)})"
    return (
        "(\n" + "".join(f"  {line}\n" for line in alone) + ")\nor\n"
        f"max without ({REPLICA_LABELS}) (\n" + "".join(f"  {line}\n" for line in shared) + ")"
    )
