"""Membership numbers under any sequence of joins, leaves, restarts and GC runs.

The reference model: a number is held from a join until the GC run after every
current member that joined before the leave (knew the node) restarted later than the
leave; a join takes the lowest free number. A host may join long after its last boot.
"""

from datetime import timedelta

from django.utils import timezone
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from clusters.models import Membership
from clusters.services.memberships import membership_create, memberships_collect_garbage

from .factories import ClusterFactory, HostFactory


class MembershipMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.cluster = ClusterFactory()
        self.clock = timezone.now()
        self.members = {}  # host pk -> number (model)
        self.departed = {}  # number -> left time (model)
        self.boot = {}  # host pk -> boot time (model)
        self.joined = {}  # host pk -> join time (model)

    def tick(self):
        self.clock += timedelta(seconds=1)
        return self.clock

    @rule(booted_long_ago=st.booleans())
    def join(self, booted_long_ago):
        booted = self.clock - timedelta(days=1) if booted_long_ago else self.tick()
        host = HostFactory(boot_time=booted)
        self.boot[host.pk] = host.boot_time
        held = set(self.members.values()) | set(self.departed)
        expected = min(n for n in range(255) if n not in held)
        membership, _ = membership_create(cluster=self.cluster, host=host, actor=None)
        assert membership.number == expected
        self.members[host.pk] = expected
        self.joined[host.pk] = self.tick()
        Membership.objects.filter(pk=membership.pk).update(created=self.joined[host.pk])

    @rule(data=st.data())
    def leave(self, data):
        if not self.members:
            return
        host_pk = data.draw(st.sampled_from(sorted(self.members)))
        membership = Membership.objects.get(
            cluster=self.cluster, host_id=host_pk, left__isnull=True
        )
        membership.left = self.tick()
        membership.save()
        self.departed[self.members.pop(host_pk)] = membership.left

    @rule(data=st.data())
    def restart(self, data):
        if not self.members:
            return
        host_pk = data.draw(st.sampled_from(sorted(self.members)))
        self.boot[host_pk] = self.tick()
        HostFactory._meta.model.objects.filter(pk=host_pk).update(boot_time=self.boot[host_pk])

    @rule()
    def collect_garbage(self):
        expected = {
            n
            for n, left in self.departed.items()
            if all(self.boot[pk] > left for pk in self.members if self.joined[pk] < left)
        }
        forgotten = memberships_collect_garbage(cluster=self.cluster)
        assert {m.number for m in forgotten} == expected
        for number in expected:
            del self.departed[number]

    @invariant()
    def database_matches_model(self):
        rows = dict(Membership.objects.filter(cluster=self.cluster).values_list("number", "left"))
        assert set(rows) == set(self.members.values()) | set(self.departed)
        assert len(rows) <= 255


def test_membership_numbers_follow_the_reference_model(db):
    # Each run works on a cluster of its own, so runs need no database reset between them.
    run_state_machine_as_test(
        MembershipMachine,
        settings=hsettings(max_examples=25, stateful_step_count=30, deadline=None),
    )
