"""Approval slots: who may fill which, and the most a set of approvers can fill (a bipartite matching).

Every approval requirement is a list of slots, each naming the capabilities that may fill it. The
N-of-M form (`approvals = 2, approver_roles = ["team_lead", "dba"]`) is N identical slots; the
mixed-role form (`require = { team_lead = 1, dba = 1 }`) is one slot per required approval, each
for its one role. A person fills at most one slot, so someone holding both roles cannot satisfy
both alone. Who fills what is a maximum matching found with augmenting paths: when bob (team lead
and DBA) approved first and sits in the DBA slot, carol (DBA only) still completes the quorum — bob
moves to the team-lead slot. An approval counts only when it lets the matching grow.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import groupby

from bot.store.records import Decision, Operation

Slot = frozenset[str]
ACRONYMS = {"dba": "DBA", "sre": "SRE"}


def role_phrase(capability: str) -> str:
    """`team_lead` → "team lead", `dba` → "DBA"."""
    return ACRONYMS.get(capability, capability.replace("_", " "))


def article(phrase: str) -> str:
    """"a " or "an " for a phrase."""
    return "an " if phrase[:1].lower() in "aeiou" else "a "


def slots_for(require: Mapping[str, int], approvals: int, approver_roles: Sequence[str]) -> tuple[Slot, ...]:
    """The slots of a requirement: one per required role approval, then N-of-M slots up to `approvals` in all."""
    slots = [frozenset({role}) for role, count in require.items() for _ in range(count)]
    extra = max(0, approvals - len(slots)) if require else approvals
    return (*slots, *(frozenset(approver_roles) for _ in range(extra)))


def dump_slots(slots: Sequence[Slot]) -> str:
    """As stored on the operation (each slot's capabilities sorted, slots in order)."""
    return json.dumps([sorted(slot) for slot in slots])


def slots_of(op: Operation) -> tuple[Slot, ...]:
    """The operation's slots: its stored quorum, else N identical slots of its approver roles."""
    if op.quorum:
        return tuple(frozenset(slot) for slot in json.loads(op.quorum))
    return tuple(frozenset(op.approver_roles) for _ in range(op.approvals_required))


def assign(slots: Sequence[Slot], people: Sequence[tuple[str, frozenset[str]]]) -> dict[int, str]:
    """A maximum matching of people to slots they may fill: slot index → person id.

    People are taken in order (the order they approved) and slots tried in order, so the result
    is deterministic; a later person may move an earlier one to another slot they also fit.
    """
    holder: dict[int, int] = {}  # slot index → index into people

    def place(person: int, seen: set[int]) -> bool:
        capabilities = people[person][1]
        for index, slot in enumerate(slots):
            if index in seen or not slot & capabilities:
                continue
            seen.add(index)
            if index not in holder or place(holder[index], seen):
                holder[index] = person
                return True
        return False

    counted_ids: set[str] = set()
    for person, (pid, _) in enumerate(people):
        if pid not in counted_ids:  # a person counts once, however often they appear
            counted_ids.add(pid)
            place(person, set())
    return {index: people[person][0] for index, person in sorted(holder.items())}


def approvers_of(op: Operation, decisions: Sequence[Decision]) -> list[tuple[str, frozenset[str]]]:
    """Who approved, in order, with the capabilities they held when they did (older rows: any approver role)."""
    return [(d.approver_id, frozenset(d.roles) if d.roles is not None else frozenset(op.approver_roles))
            for d in decisions if d.decision == "approve"]


@dataclass(frozen=True)
class Tally:
    """Who fills which slot of a request, and what is still missing."""

    slots: tuple[Slot, ...]
    filled: dict[int, str]
    """Slot index → the name of the approver filling it."""

    @property
    def complete(self) -> bool:
        """Whether every slot is filled."""
        return len(self.filled) == len(self.slots)

    def missing(self) -> list[str]:
        """The open slots as phrases: ["a DBA"], ["2 team leads"]."""
        counts: dict[str, int] = {}
        for index, slot in enumerate(self.slots):
            if index not in self.filled:
                phrase = slot_phrase(slot)
                counts[phrase] = counts.get(phrase, 0) + 1
        return [counted(phrase, n) for phrase, n in counts.items()]

    def line(self, who: Callable[[str], str] | None = None) -> str:
        """"team lead: @bob ✅ · DBA: waiting"."""
        show = who or (lambda name: "@" + name)
        return " · ".join(f"{slot_phrase(slot)}: {show(self.filled[i])} ✅" if i in self.filled
                          else f"{slot_phrase(slot)}: waiting" for i, slot in enumerate(self.slots))


def tally(op: Operation, decisions: Sequence[Decision]) -> Tally:
    """The request's slots as its recorded approvals fill them."""
    names = {d.approver_id: d.approver_name for d in decisions}
    filled = assign(slots_of(op), approvers_of(op, decisions))
    return Tally(slots_of(op), {index: names[pid] for index, pid in filled.items()})


def slot_phrase(slot: Slot) -> str:
    """"team lead", "team lead or DBA"."""
    return " or ".join(role_phrase(r) for r in sorted(slot))


def counted(phrase: str, count: int) -> str:
    """"a DBA", "2 team leads"."""
    if count == 1:
        return article(phrase) + phrase
    return f"{count} " + " or ".join(f"{part}s" for part in phrase.split(" or "))


def describe(require: Mapping[str, int]) -> str:
    """"a team lead and a DBA", "2 team leads, a DBA and an SRE"."""
    parts = [counted(role_phrase(role), count) for role, count in require.items()]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def missing_sentence(missing: list[str]) -> str:
    """"a DBA" / "a DBA and a team lead"."""
    return missing[0] if len(missing) == 1 else ", ".join(missing[:-1]) + " and " + missing[-1]


def requirement_sentence(slots: Sequence[Slot]) -> str:
    """"Requires approval from a team lead and a DBA (different people)." for a request's slots."""
    parts = [counted(slot_phrase(slot), len(list(same))) for slot, same in groupby(slots)]
    return f"Requires approval from {missing_sentence(parts)} (different people)."
