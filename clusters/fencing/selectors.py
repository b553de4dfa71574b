"""What the What-if page, the API and the workflow previews read: a failure's outcome on
the cluster as the console knows it, the failures to choose from, and what fences."""

from __future__ import annotations

from collections.abc import Iterable

from clusters.models import Cluster
from clusters.selectors.hosts import host_clusters

from .inputs import layout_for
from .model import (
    IMPLICIT_SEGMENT,
    Failure,
    FailureKind,
    Layout,
    Outcome,
    Recommendation,
    fencing_failures,
    recommendations,
    simulate,
    single_failures,
)

DEFAULT_PAUSE_S = 60


def failure_key(failure: Failure) -> str:
    """A failure as one form value: kind, target and host, joined by '|'."""
    return "|".join((failure.kind, failure.target, failure.host or ""))


def failure_from_key(key: str, seconds: float | None = None) -> Failure:
    kind, _, rest = key.partition("|")
    target, _, host = rest.partition("|")
    return Failure(FailureKind(kind), target, host or None, seconds)


def failure_choices(layout: Layout) -> list[tuple[str, str]]:
    """(value, label) of every failure the page offers, single failures first, then the
    implicit network, bonds as a whole and the array pauses."""
    failures = single_failures(layout)
    failures.append(Failure(FailureKind.SEGMENT, IMPLICIT_SEGMENT))
    for node in layout.live:
        for bond in sorted({nic.bond for nic in node.nics if nic.bond}):
            failures.append(Failure(FailureKind.BOND, bond, node.host))
    failures += [
        Failure(FailureKind.ARRAY_PAUSE, a, seconds=DEFAULT_PAUSE_S) for a in layout.arrays
    ]
    seen, choices = set(), []
    for failure in failures:
        key = failure_key(failure)
        if key not in seen:
            seen.add(key)
            label = failure.describe()
            if failure.kind == FailureKind.ARRAY_PAUSE:
                label = f"array {failure.target} pauses (for the seconds given)"
            choices.append((key, label))
    return choices


def what_if(cluster: Cluster, failure: Failure) -> Outcome:
    """The outcome of `failure` on the cluster now (LayoutError: a failure it lacks)."""
    return simulate(layout_for(cluster), failure)


def fence_advice(cluster: Cluster) -> list[Recommendation]:
    return recommendations(layout_for(cluster))


# A rolling restart's preview checks each member out in turn up to this many members.
PREVIEW_MEMBER_LIMIT = 16


def single_failures_that_fence(
    cluster: Cluster, without_hosts: Iterable = (), *, layout: Layout | None = None
) -> list[str]:
    """Sentences for a workflow preview: each single failure that would fence a host while
    `without_hosts` (hosts or host names) are out of the cluster."""
    names = [getattr(h, "hostname", h) for h in without_hosts]
    layout = layout or layout_for(cluster)
    while_out = (
        f"while {', '.join(names)} {'is' if len(names) == 1 else 'are'} out, " if names else ""
    )
    sentences = []
    for outcome in fencing_failures(layout, without_hosts=names):
        fenced = outcome.fenced
        who = fenced[0] if len(fenced) == 1 else f"{', '.join(fenced[:-1])} and {fenced[-1]}"
        text = f"{while_out}{_as_failure_of(outcome.failure)} fences {who}"
        sentences.append(text[0].upper() + text[1:] + ".")
    return sentences


def _as_failure_of(failure: Failure) -> str:
    owner = f"{failure.host}'s " if failure.host else ""
    match failure.kind:
        case FailureKind.HOST:
            return f"a failure of {failure.target}"
        case FailureKind.LUN:
            return f"a failure of LUN {failure.target}"
        case FailureKind.ARRAY_ERROR:
            return f"an I/O error of array {failure.target}"
        case FailureKind.PATH_SET:
            return f"a failure of {owner}path set {failure.target}"
        case FailureKind.NIC | FailureKind.BOND:
            return f"a failure of {owner}cluster link {failure.target}"
    return f"a failure of {failure.target}"


def fence_risks_while_out(host) -> list[str]:
    """The single failures that fence a host of any of `host`'s clusters while it is out."""
    return [
        sentence
        for cluster in host_clusters(host)
        for sentence in single_failures_that_fence(cluster, [host])
    ]


def fence_risks_one_at_a_time(cluster: Cluster, hosts: Iterable) -> list[str]:
    """A rolling restart's: the single failures that fence a host while each member is out
    in turn (checked for the first PREVIEW_MEMBER_LIMIT members)."""
    hosts = list(hosts)
    layout = layout_for(cluster)
    sentences = [
        sentence
        for host in hosts[:PREVIEW_MEMBER_LIMIT]
        for sentence in single_failures_that_fence(cluster, [host], layout=layout)
    ]
    if len(hosts) > PREVIEW_MEMBER_LIMIT:
        sentences.append(
            f"Checked while each of the first {PREVIEW_MEMBER_LIMIT} of {len(hosts)} members is "
            "out; ask the What if… page about the others."
        )
    return sentences
