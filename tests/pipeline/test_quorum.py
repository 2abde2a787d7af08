"""Approval slots: the matching is maximum, valid and order-independent; one person fills one slot."""

import random
from functools import cache

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.config import PolicyRow
from bot.pipeline import quorum
from bot.pipeline.policy import PolicyEngine

ROLES = ("team_lead", "dba", "sre")
roles = st.frozensets(st.sampled_from(ROLES), max_size=3)
slots_strategy = st.lists(st.frozensets(st.sampled_from(ROLES), min_size=1, max_size=2), max_size=5)
people_strategy = st.lists(st.tuples(st.sampled_from("abcdef"), roles), max_size=6)


def first_roles(people):
    """Each person's capabilities as they first appear (a person counts once)."""
    first = {}
    for pid, caps in people:
        first.setdefault(pid, caps)
    return first


def brute_force(slots, people) -> int:
    """The largest number of slots distinct people can fill, by trying every choice."""
    distinct = list(first_roles(people).items())

    @cache
    def best(slot: int, used: frozenset[str]) -> int:
        if slot == len(slots):
            return 0
        return max([best(slot + 1, used)] + [1 + best(slot + 1, used | {pid}) for pid, caps in distinct
                                             if pid not in used and slots[slot] & caps])

    return best(0, frozenset())


@settings(max_examples=300, deadline=None)
@given(slots_strategy, people_strategy)
def test_the_matching_is_maximum_and_valid(slots, people):
    filled = quorum.assign(slots, people)
    assert len(filled) == brute_force(slots, people)
    assert len(set(filled.values())) == len(filled)  # one person, one slot
    first = first_roles(people)
    assert all(slots[index] & first[pid] for index, pid in filled.items())  # only slots their roles fit


@settings(max_examples=200, deadline=None)
@given(slots_strategy, people_strategy, st.randoms(use_true_random=False))
def test_order_never_changes_how_many_slots_are_filled(slots, people, rnd):
    distinct = list(first_roles(people).items())
    shuffled = distinct[:]
    rnd.shuffle(shuffled)
    assert len(quorum.assign(slots, distinct)) == len(quorum.assign(slots, shuffled))


@settings(max_examples=200, deadline=None)
@given(slots_strategy, people_strategy, st.tuples(st.sampled_from("uvw"), roles))
def test_a_later_approval_never_unfills_a_slot(slots, people, newcomer):
    assert len(quorum.assign(slots, [*people, newcomer])) >= len(quorum.assign(slots, people))


def test_a_dual_role_approver_moves_over_for_a_later_single_role_one():
    slots = (frozenset({"dba"}), frozenset({"team_lead"}))
    bob, carol = ("bob", frozenset({"team_lead", "dba"})), ("carol", frozenset({"dba"}))
    assert quorum.assign(slots, [bob]) == {0: "bob"}  # alone, bob takes the first slot he fits
    assert quorum.assign(slots, [bob, carol]) == {0: "carol", 1: "bob"}  # carol completes it: bob moves over
    assert len(quorum.assign(slots, [bob, ("bob", frozenset({"dba"}))])) == 1  # bob counts once


def test_a_person_with_both_roles_fills_one_slot_only():
    slots = quorum.slots_for({"team_lead": 1, "dba": 1}, 0, [])
    assert slots == (frozenset({"team_lead"}), frozenset({"dba"}))
    assert len(quorum.assign(slots, [("gina", frozenset({"team_lead", "dba"}))])) == 1


def test_slots_of_both_forms_and_of_a_freeze_override():
    assert quorum.slots_for({}, 2, ["team_lead", "dba"]) == (frozenset({"team_lead", "dba"}),) * 2
    # a freeze that asks for 3 approvals by team leads keeps the quorum's slots and adds one
    assert quorum.slots_for({"team_lead": 1, "dba": 1}, 3, ["team_lead"]) == (
        frozenset({"team_lead"}), frozenset({"dba"}), frozenset({"team_lead"}))
    assert quorum.slots_for({"team_lead": 1, "dba": 1}, 1, ["team_lead"]) == (
        frozenset({"team_lead"}), frozenset({"dba"}))


def test_what_a_card_and_a_policy_say():
    slots = quorum.slots_for({"team_lead": 2, "dba": 1}, 0, [])
    assert quorum.requirement_sentence(slots) == "Requires approval from 2 team leads and a DBA (different people)."
    tally = quorum.Tally(slots, {0: "bob"})
    assert tally.line() == "team lead: @bob ✅ · team lead: waiting · DBA: waiting"
    assert tally.missing() == ["a team lead", "a DBA"] and not tally.complete
    engine = PolicyEngine([PolicyRow(action="migrate", require={"team_lead": 1, "dba": 1})])
    req = engine.decide("migrate", "production")
    assert (req.approvals, req.approver_roles) == (2, ("team_lead", "dba"))
    assert req.sentence() == "Requires approval from a team lead and a DBA (different people)."


def test_random_big_quorums_stay_fast():
    rnd = random.Random(7)
    slots = [frozenset(rnd.sample(ROLES, rnd.randint(1, 2))) for _ in range(10)]
    people = [(f"p{i}", frozenset(rnd.sample(ROLES, rnd.randint(1, 3)))) for i in range(200)]
    assert len(quorum.assign(slots, people)) == 10
