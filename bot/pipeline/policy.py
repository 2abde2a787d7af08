"""The approval policy: config rows, first match wins, `*` wildcards; the seed's matrix by default."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from bot.config import FreezeWindow, PolicyRow
from bot.errors import Frozen
from bot.pipeline.quorum import Slot, article, counted, describe, role_phrase, slot_phrase, slots_for

__all__ = ["SEED_MATRIX", "PolicyEngine", "Requirement", "article", "role_phrase"]

PolicyAction = str  # deploy, rollback, scale_up, scale_down, migrate

SEED_MATRIX: tuple[PolicyRow, ...] = (
    PolicyRow(action="deploy", environment="production", approvals=1, approver_roles=["team_lead"]),
    PolicyRow(action="rollback", environment="*", confirm=True),
    PolicyRow(action="scale_down", environment="production", approvals=1, approver_roles=["team_lead"]),
    PolicyRow(action="migrate", environment="production", approvals=2, approver_roles=["team_lead", "dba"]),
    PolicyRow(action="*", environment="*"),
)

_NO_ROW = PolicyRow(action="*", environment="*")


@dataclass(frozen=True)
class Requirement:
    """What a request needs before it runs."""

    row_index: int | None
    row: PolicyRow
    from_seed: bool
    freeze: FreezeWindow | None = None

    @property
    def slots(self) -> tuple[Slot, ...]:
        """One per approval needed, each with the capabilities that may fill it (see bot.pipeline.quorum)."""
        return slots_for(self.row.require, self.row.approvals, self.row.approver_roles)

    @property
    def approvals(self) -> int:
        """How many distinct approvers."""
        return len(self.slots)

    @property
    def approver_roles(self) -> tuple[str, ...]:
        """Capabilities whose holders may approve."""
        return tuple(dict.fromkeys([*self.row.require, *self.row.approver_roles]))

    @property
    def confirm_phrase(self) -> bool:
        """Whether the requester types the service name (a Discord modal) before the request is submitted."""
        return self.row.confirm_phrase

    @property
    def confirm(self) -> bool:
        """Whether the requester must confirm with a button."""
        return self.row.confirm

    @property
    def expiry_minutes(self) -> int:
        """How long approval or confirmation may take."""
        return self.row.expiry_minutes

    def sentence(self) -> str:
        """"Requires approval from a team lead." and the like."""
        if self.row.require:
            need = f"Requires approval from {describe(self.row.require)} (different people)"
            extra = self.approvals - sum(self.row.require.values())
            if extra:
                need += f", and {extra} more from " + counted(slot_phrase(frozenset(self.row.approver_roles)),
                                                              extra).removeprefix(f"{extra} ")
            return need + "." + (" The requester also confirms." if self.confirm else "")
        if self.approvals:
            roles = " or ".join(role_phrase(r) for r in self.approver_roles)
            if self.approvals == 1:
                need = f"Requires approval from {article(roles)}{roles}."
            else:
                need = f"Requires {self.approvals} approvals from different people ({roles})."
            return need + (" The requester also confirms." if self.confirm else "")
        if self.confirm:
            return "No approval needed, but the requester must confirm."
        return "No approval needed."


def _matches(pattern: str, value: str | None) -> bool:
    return pattern == "*" or (value is not None and pattern == value)


class PolicyEngine:
    """Decides what a request needs: the first row matching (action, environment, service), then freezes."""

    def __init__(self, rows: list[PolicyRow] | tuple[PolicyRow, ...],
                 freezes: list[FreezeWindow] | tuple[FreezeWindow, ...] = (), *, confirm_minutes: int = 2) -> None:
        self.confirm_minutes = confirm_minutes
        self.from_seed = not rows
        self.rows: tuple[PolicyRow, ...] = tuple(rows) if rows else SEED_MATRIX
        self.freezes = tuple(freezes)
        self.asks_phrases = any(row.confirm_phrase for row in self.rows)
        """Whether any row wants the service name typed (a freeze only tightens approvals, never adds one)."""

    def decide(self, action: PolicyAction, environment: str, service: str | None = None,
               at: datetime | None = None) -> Requirement:
        """The requirement for this request; raises Frozen when a change freeze refuses it."""
        req = self.row_for(action, environment, service)
        freeze = self.active_freeze(action, environment, at)
        if freeze is None:
            return req
        until = freeze.end.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
        if not freeze.approvals:
            raise Frozen(f"{environment} is in a change freeze until {until} ({freeze.reason}); "
                         f"{action.replace('_', ' ')} is not allowed.")
        stricter = req.row.model_copy(update={
            "approvals": max(req.row.approvals, freeze.approvals), "approver_roles": list(freeze.approver_roles)})
        return Requirement(req.row_index, stricter, self.from_seed, freeze)

    def row_for(self, action: PolicyAction, environment: str, service: str | None = None) -> Requirement:
        """The first matching row alone, freezes aside (what break-glass skips)."""
        for index, row in enumerate(self.rows):
            if _matches(row.action, action) and _matches(row.environment, environment) \
                    and _matches(row.service, service):
                return Requirement(index, row, self.from_seed)
        return Requirement(None, _NO_ROW, self.from_seed)

    def expiry_of_confirmation(self, req: Requirement) -> int:
        """Minutes a requester has to confirm: `[operations] confirm_minutes`, never more than the row allows."""
        return min(req.expiry_minutes, self.confirm_minutes)

    def active_freeze(self, action: PolicyAction, environment: str, at: datetime | None = None
                      ) -> FreezeWindow | None:
        """The first freeze covering this request now (or at `at`)."""
        moment = at or datetime.now(UTC)
        return next((f for f in self.freezes if f.active(action, environment, moment)), None)

    def explain(self, action: PolicyAction, environment: str, service: str | None = None) -> str:
        """One or two plain lines: the matching row and what it requires (and a freeze, if one is on)."""
        try:
            req = self.decide(action, environment, service)
        except Frozen as exc:
            return f"{action} in {environment}: refused — {exc.message}"
        target = f"{action} in {environment}" + (f" for {service}" if service else "")
        if req.row_index is None:
            return f"{target}: no policy row matches. {req.sentence()}"
        r = req.row
        source = "the seed's default matrix" if req.from_seed else "the config"
        line1 = (f"{target}: matches policy row {req.row_index + 1} (the {_ordinal(req.row_index + 1)} [[policy]]) "
                 f"of {source} "
                 f"(action={r.action}, environment={r.environment}, service={r.service}).")
        line2 = req.sentence()
        if req.freeze is not None:
            line2 = (f"Change freeze until {req.freeze.end.astimezone(UTC):%Y-%m-%d %H:%M} UTC ({req.freeze.reason}): "
                     + line2)
        if req.row.require:
            line2 += (" One person fills one slot, whichever of these roles they hold; nobody approves their own "
                      "request.")
        if req.approvals:
            line2 += f" Approvals expire after {req.expiry_minutes} minutes."
        if req.confirm_phrase:
            line2 += " Step-up: the requester types the service name to confirm before the request is submitted."
        if req.approvals or req.confirm:
            line2 += (" Approvals are bound to the plan on the request's card: if it changes before the run, they "
                      "are void.") if req.approvals else (" The confirmation is bound to the plan on the request's "
                                                          "card: if it changes before the run, it is void.")
        if req.confirm:
            line2 += f" The requester has {self.expiry_of_confirmation(req)} minutes to confirm."
        return f"{line1}\n{line2}"


def _ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th, … 11th, 12th, 13th, 21st."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
