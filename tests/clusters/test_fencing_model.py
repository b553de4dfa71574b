"""O2CB's fence rules as the model applies them: exact cases from the kernel's rules, and
properties that hold for any layout (hypothesis)."""

import random
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clusters.fencing.model import (
    Failure,
    FailureKind,
    Fate,
    Layout,
    LayoutError,
    Link,
    LunPaths,
    Nic,
    Node,
    Region,
    Rule,
    Timeouts,
    fencing_failures,
    recommendations,
    simulate,
    single_failures,
)


def layout(
    count=3,
    regions=3,
    *,
    arrays=None,
    queue_s=0,
    segments=None,
    threshold=31,
    path_sets=("hba1", "hba2"),
    numbers=None,
):
    """`count` nodes, `regions` heartbeat regions; `segments[i]` the switches node i's
    bond plugs into (default: one shared switch)."""
    numbers = numbers or list(range(1, count + 1))
    nodes = []
    for i, number in enumerate(numbers):
        switches = segments[i] if segments else ("sw1",)
        nics = tuple(Nic(f"eth{k}", s, bond="bond0") for k, s in enumerate(switches))
        luns = tuple(LunPaths(f"L{j}", path_sets, queue_s) for j in range(regions))
        nodes.append(Node(f"h{number:02d}", number, nics=nics, luns=luns, srs=("Gold",)))
    arrays = arrays or ["A"] * regions
    return Layout(
        "c",
        tuple(nodes),
        tuple(Region(f"r{j}", f"L{j}", arrays[j]) for j in range(regions)),
        Timeouts(dead_threshold=threshold),
    )


def fates(outcome):
    return {h.host: h.fate for h in outcome.hosts}


# Exact cases, each the kernel's rule read off its source.


def test_the_dead_time_is_threshold_less_one_times_two_seconds_and_the_warning_comes_at_half():
    # h02 alone loses its only path and multipath queues: its writes hang.
    single = layout(3, 1, path_sets=("hba1",), queue_s=None)
    outcome = simulate(single, Failure(FailureKind.PATH_SET, "hba1", host="h02"))
    assert outcome.dead_s == 60 and outcome.negotiation_s == 30
    host = outcome.hosts[1]
    assert host.fate == Fate.FENCED and host.at_s == 60 and host.rule == Rule.WRITE_TIMEOUT
    first = host.events[0]
    assert first.at_s == 30 and first.what.startswith("first warning")
    assert "negotiation point, half the dead time" in first.what
    assert "it tells node 1, the lowest live node" in first.what
    # An I/O error at once: no negotiation, and the warning says so.
    errored = simulate(layout(3, 1), Failure(FailureKind.PATH_SET, "hba1", host="h02"))
    assert errored.fenced == []  # its other path set still works
    failing = simulate(layout(3, 1, path_sets=("hba1",)), Failure(FailureKind.PATH_SET, "hba1"))
    assert failing.hosts[0].events[0].what.endswith("no negotiation, the write timer runs out")


@pytest.mark.parametrize(("regions", "fences"), [(1, True), (2, True), (3, False), (4, False)])
def test_one_region_failing_fences_only_when_it_is_half_or_more_of_the_quorum_regions(
    regions, fences
):
    outcome = simulate(layout(3, regions), Failure(FailureKind.LUN, "L0"))
    assert bool(outcome.fenced) is fences
    assert ("at least half" if fences else "fewer than half") in outcome.hosts[0].why + " ".join(
        e.what for e in outcome.hosts[0].events
    )


def test_a_region_not_every_live_node_writes_is_no_quorum_region():
    base = layout(3, 3)
    regions = (*base.regions[:2], replace(base.regions[2], writers=frozenset({"h01", "h02"})))
    partial = replace(base, regions=regions)
    assert [r.name for r in partial.quorum_regions()] == ["r0", "r1"]
    # Two quorum regions now: one failing is half, so it fences.
    assert simulate(partial, Failure(FailureKind.LUN, "L0")).fenced == ["h01", "h02", "h03"]


def test_an_array_pause_is_negotiated_away_but_an_io_error_fences_every_writer():
    base = layout(3, 3)
    paused = simulate(base, Failure(FailureKind.ARRAY_PAUSE, "A", seconds=600))
    assert paused.fenced == []
    assert any("approves" in e.what for e in paused.hosts[1].events)
    errored = simulate(base, Failure(FailureKind.ARRAY_ERROR, "A"))
    assert errored.fenced == ["h01", "h02", "h03"]
    assert all(h.at_s == 60 for h in errored.hosts)


def test_without_negotiation_a_pause_longer_than_the_dead_time_fences():
    old_kernel = replace(layout(3, 3), negotiation=False)
    assert simulate(old_kernel, Failure(FailureKind.ARRAY_PAUSE, "A", seconds=60)).fenced == []
    long_pause = simulate(old_kernel, Failure(FailureKind.ARRAY_PAUSE, "A", seconds=61))
    assert long_pause.fenced == ["h01", "h02", "h03"]


def test_a_lun_that_queues_past_the_negotiation_point_buys_one_more_round():
    # multipath queues 40 s, then errors: approved at 30 s, the timer fires at 30 + 60.
    outcome = simulate(layout(3, 1, queue_s=40), Failure(FailureKind.LUN, "L0"))
    assert {h.at_s for h in outcome.hosts} == {90}
    assert [e.at_s for e in outcome.hosts[0].events] == [30, 30, 40, 90]
    assert "multipath gives up" in outcome.hosts[0].events[2].what


def test_a_pause_over_before_the_negotiation_point_gives_no_warning():
    outcome = simulate(layout(3, 3), Failure(FailureKind.ARRAY_PAUSE, "A", seconds=10))
    assert outcome.fenced == []
    assert [(e.at_s, e.what.split(":")[0]) for e in outcome.hosts[0].events][:1] == [
        (10, "writes to r0 go through again")
    ]


def test_a_path_set_failure_fences_only_a_host_whose_heartbeat_luns_all_go_through_it():
    single = layout(3, 1, path_sets=("hba1",))
    outcome = simulate(single, Failure(FailureKind.PATH_SET, "hba1", host="h02"))
    assert fates(outcome) == {"h01": Fate.SURVIVES, "h02": Fate.FENCED, "h03": Fate.SURVIVES}
    # The lowest node is not stalled itself, so it never approves h02's negotiation.
    assert simulate(layout(3, 1), Failure(FailureKind.PATH_SET, "hba1", host="h02")).fenced == []


def test_a_two_node_split_keeps_the_lowest_node():
    outcome = simulate(layout(2, 3), Failure(FailureKind.SEGMENT, "sw1"))
    assert fates(outcome) == {"h01": Fate.SURVIVES, "h02": Fate.FENCED}
    assert "lacks node 1" in outcome.hosts[1].why
    assert outcome.hosts[1].at_s == 30 + (31 + 2) * 2


def test_the_lowest_nodes_own_bond_failing_fences_the_healthy_node_of_a_pair():
    outcome = simulate(layout(2, 3), Failure(FailureKind.BOND, "bond0", host="h01"))
    assert fates(outcome) == {"h01": Fate.SURVIVES, "h02": Fate.FENCED}


def test_an_even_split_between_two_switches_fences_the_side_without_the_lowest_node():
    segments = [("sw1",), ("sw2",), ("sw1",), ("sw2",)]
    split = replace(layout(4, 3, segments=segments), links=(Link("trunk", "sw1", "sw2"),))
    assert simulate(split, Failure(FailureKind.BOND, "bond0", host="h02")).fenced == ["h02"]
    outcome = simulate(split, Failure(FailureKind.SEGMENT, "trunk"))
    # Nodes 1 and 3 on sw1 hold the lowest node: nodes 2 and 4 fence.
    assert fates(outcome) == {
        "h01": Fate.SURVIVES,
        "h02": Fate.FENCED,
        "h03": Fate.SURVIVES,
        "h04": Fate.FENCED,
    }
    assert "lacks node 1" in outcome.hosts[1].why
    advice = {r.kind: r for r in recommendations(split)}
    assert "keeps the side of node 1 (h01)" in advice["network"].message
    assert "add a member" in advice["network"].fix


def test_one_switch_for_everyone_fences_every_node_of_three():
    assert simulate(layout(3, 3), Failure(FailureKind.SEGMENT, "sw1")).fenced == [
        "h01",
        "h02",
        "h03",
    ]


def test_a_failed_host_is_seen_dead_and_nobody_decides_on_quorum():
    outcome = simulate(layout(4, 3), Failure(FailureKind.HOST, "h01"))
    assert fates(outcome)["h01"] == Fate.FAILED
    assert outcome.survivors == ["h02", "h03", "h04"]
    assert outcome.sr_holders == ["h02", "h03", "h04"]
    assert "no quorum decision" in outcome.hosts[1].why


def test_a_node_not_heartbeating_is_idle_and_not_counted():
    base = layout(3, 3)
    idle = replace(base, nodes=(replace(base.nodes[0], heartbeating=False), *base.nodes[1:]))
    outcome = simulate(idle, Failure(FailureKind.BOND, "bond0", host="h02"))
    # Two heartbeating: each alone is half, and only h02's side holds the lowest (node 2).
    assert fates(outcome) == {"h01": Fate.IDLE, "h02": Fate.SURVIVES, "h03": Fate.FENCED}


@pytest.mark.parametrize(
    ("failure", "message"),
    [
        (Failure(FailureKind.HOST, "nobody"), "has no host nobody"),
        (Failure(FailureKind.LUN, "L9"), "has no lun L9"),
        (Failure(FailureKind.BOND, "bond7", host="h01"), "h01 has no bond bond7"),
        (Failure(FailureKind.NIC, "eth0"), "names its host"),
        (Failure(FailureKind.ARRAY_PAUSE, "A"), "how many seconds"),
        (Failure(FailureKind.ARRAY_PAUSE, "A", seconds=-1), "zero seconds or more"),
        (Failure(FailureKind.PATH_SET, "hba9"), "path set hba9"),
    ],
)
def test_a_failure_the_layout_does_not_have_is_refused_with_its_reason(failure, message):
    with pytest.raises(LayoutError, match=message):
        simulate(layout(3, 3), failure)


def test_recommendations_name_each_bad_layout_with_its_fix():
    kinds = {r.kind for r in recommendations(layout(2, 1))}
    assert kinds == {"few_regions", "one_array", "network"}
    advice = {r.kind: r for r in recommendations(layout(2, 1, queue_s=None))}
    assert "queues I/O to heartbeat LUN L0 without limit" in advice["queueing"].message
    assert "no_path_retry" in advice["queueing"].fix
    good = layout(
        3,
        3,
        arrays=["A", "B", "C"],
        segments=[("sw1", "sw2")] * 3,
    )
    assert recommendations(good) == []
    assert fencing_failures(good) == []


def test_single_failures_while_a_host_is_out_speak_of_the_rest():
    # Three nodes, one out: two left, and the lowest's bond now fences the other.
    redundant = layout(3, 3, arrays=["A", "B", "C"], segments=[("sw1", "sw2")] * 3)
    found = fencing_failures(redundant, without_hosts=["h01"])
    assert [o.description for o in found] == []
    found = fencing_failures(layout(3, 3), without_hosts=["h01"])
    assert "h02's bond bond0 goes down" in [o.description for o in found]
    assert all(
        f.host != "h01" and f.target != "h01" for f in single_failures(layout(3, 3), ["h01"])
    )


# Properties, for any layout hypothesis makes.


@st.composite
def layouts(draw):
    count = draw(st.integers(2, 7))
    numbers = draw(st.lists(st.integers(0, 254), min_size=count, max_size=count, unique=True))
    regions = draw(st.integers(1, 5))
    arrays = draw(st.lists(st.sampled_from("ABC"), min_size=regions, max_size=regions))
    segments = draw(
        st.lists(
            st.lists(st.sampled_from(["sw1", "sw2", "sw3"]), min_size=1, max_size=2, unique=True),
            min_size=count,
            max_size=count,
        )
    )
    threshold = draw(st.integers(3, 91))
    queue_s = draw(st.sampled_from([0, 5, 40, None]))
    return layout(
        count,
        regions,
        arrays=arrays,
        segments=segments,
        threshold=threshold,
        numbers=numbers,
        queue_s=queue_s,
    )


def bipartition(base: Layout, side: set[int]) -> Layout:
    """Nodes at positions in `side` on switch left, the rest on switch right, the two
    switches joined by one trunk."""
    return replace(
        base,
        nodes=tuple(
            replace(n, nics=(Nic("eth0", "left" if i in side else "right", "bond0"),))
            for i, n in enumerate(base.nodes)
        ),
        links=(Link("trunk", "left", "right"),),
    )


@settings(max_examples=150, deadline=None)
@given(layouts(), st.data())
def test_a_split_into_two_groups_never_fences_everyone(base, data):
    count = len(base.nodes)
    side = set(data.draw(st.sets(st.integers(0, count - 1), min_size=1, max_size=count - 1)))
    split = bipartition(base, side)
    outcome = simulate(split, Failure(FailureKind.SEGMENT, "trunk"))
    assert outcome.survivors
    left = {n.host for i, n in enumerate(split.nodes) if i in side}
    for group in (left, {n.host for n in split.nodes} - left):
        assert len({o.fate for o in outcome.hosts if o.host in group}) == 1  # a side is one


@settings(max_examples=150, deadline=None)
@given(layouts(), st.data())
def test_an_exact_half_split_keeps_the_side_of_the_lowest_node(base, data):
    nodes = base.nodes[: len(base.nodes) // 2 * 2]
    count = len(nodes)
    side = data.draw(st.sets(st.integers(0, count - 1), min_size=count // 2, max_size=count // 2))
    split = bipartition(replace(base, nodes=nodes), side)
    outcome = simulate(split, Failure(FailureKind.SEGMENT, "trunk"))
    lowest = min(range(count), key=lambda i: nodes[i].number)
    kept = {nodes[i].host for i in range(count) if (i in side) == (lowest in side)}
    assert set(outcome.survivors) == kept
    assert set(outcome.fenced) == {n.host for n in nodes} - kept


@settings(max_examples=150, deadline=None)
@given(layouts(), st.integers(0, 4))
def test_with_three_or_more_regions_one_region_failing_never_fences(base, which):
    if len(base.regions) < 3:
        return
    lun = base.regions[which % len(base.regions)].lun
    assert simulate(base, Failure(FailureKind.LUN, lun)).fenced == []


@settings(max_examples=150, deadline=None)
@given(layouts(), st.floats(0, 1, allow_nan=False))
def test_an_array_pause_up_to_the_dead_time_fences_nobody(base, fraction):
    for negotiation in (True, False):
        current = replace(base, negotiation=negotiation)
        seconds = fraction * current.timeouts.dead_s
        for array in current.arrays:
            outcome = simulate(current, Failure(FailureKind.ARRAY_PAUSE, array, seconds=seconds))
            assert outcome.fenced == []


@settings(max_examples=150, deadline=None)
@given(layouts())
def test_an_io_error_on_every_region_fences_every_writer(base):
    one_array = replace(base, regions=tuple(replace(r, array="A") for r in base.regions))
    outcome = simulate(one_array, Failure(FailureKind.ARRAY_ERROR, "A"))
    assert outcome.fenced == [n.host for n in sorted(one_array.nodes, key=lambda n: n.number)]
    assert {h.rule for h in outcome.hosts} == {Rule.WRITE_TIMEOUT}


@settings(max_examples=100, deadline=None)
@given(layouts(), st.randoms(use_true_random=False))
def test_the_outcome_does_not_depend_on_the_order_hosts_are_listed(base, rnd: random.Random):
    shuffled = list(base.nodes)
    rnd.shuffle(shuffled)
    reordered = replace(base, nodes=tuple(shuffled))
    for failure in single_failures(base):
        assert simulate(base, failure).hosts == simulate(reordered, failure).hosts


@settings(max_examples=100, deadline=None)
@given(layouts(), st.integers(2, 4))
def test_the_times_scale_with_the_timeouts(base, factor):
    # Scaling (threshold - 1) and multipath's queueing together scales the disk times alike.
    t = base.timeouts
    slow = replace(
        base,
        timeouts=Timeouts(dead_threshold=(t.dead_threshold - 1) * factor + 1),
        nodes=tuple(
            replace(
                n,
                luns=tuple(
                    replace(p, queue_s=None if p.queue_s is None else p.queue_s * factor)
                    for p in n.luns
                ),
            )
            for n in base.nodes
        ),
    )
    assert slow.timeouts.dead_s == t.dead_s * factor
    for failure in single_failures(base):
        fast_outcome, slow_outcome = simulate(base, failure), simulate(slow, failure)
        assert fast_outcome.fenced == slow_outcome.fenced
        for a, b in zip(fast_outcome.hosts, slow_outcome.hosts, strict=True):
            if a.rule == Rule.WRITE_TIMEOUT and a.at_s is not None:
                assert b.at_s == a.at_s * factor


def test_a_lab_scenario_describes_its_layout_and_failure_as_json():
    from clusters.fencing.codec import failure_from_dict, layout_from_dict, outcome_to_dict

    described = {
        "cluster": "lab",
        "nodes": [
            {"host": f"guest-{n}", "number": n, "nics": [{"name": "eth0", "segment": "switch"}]}
            for n in (0, 1)
        ],
        "regions": [{"name": "r0", "lun": "L0"}],
        "timeouts": {"dead_threshold": 11},
    }
    outcome = simulate(
        layout_from_dict(described), failure_from_dict({"kind": "segment", "target": "switch"})
    )
    data = outcome_to_dict(outcome)
    assert data["fenced"] == ["guest-1"] and data["dead_s"] == 20
    assert data["hosts"][1]["rule"] == "o2quo_make_decision"
    with pytest.raises(LayoutError, match=r"layout.nodes\[0\] has no field colour"):
        layout_from_dict({**described, "nodes": [{"host": "a", "number": 0, "colour": "red"}]})
    with pytest.raises(LayoutError, match="layout lacks nodes"):
        layout_from_dict({"cluster": "lab"})
    with pytest.raises(LayoutError, match="failure.kind 'meteor' is none of"):
        failure_from_dict({"kind": "meteor", "target": "x"})
