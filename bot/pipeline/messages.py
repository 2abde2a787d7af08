"""Every sentence the pipeline shows people, in one place.

An operation's card is a function of what the store holds (its status, outcome and decisions),
so the same card can be rendered again at any time — after a crash, a failed edit, or a decision
made through the CLI while Discord was away.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.pipeline import quorum
from bot.pipeline.plans import Plan
from bot.pipeline.policy import article, role_phrase
from bot.pipeline.types import Card
from bot.store.records import Decision, Lock, Operation
from bot.text import shown
from bot.times import parse_iso

ICONS = {"deploy": "🚀", "rollback": "⏪", "scale": "📏", "migrate": "🗃️"}
VERBS = {"deploy": "Deploy", "rollback": "Rollback", "scale": "Scale", "migrate": "Migration"}
PROGRESSIVE = {"deploy": "Deploying", "rollback": "Rolling back", "scale": "Scaling", "migrate": "Migrating"}

PENDING_STATUSES = ("pending_approval", "pending_confirmation")
STEPS = {"provider": "Running the provider", "health": "Checking health", "annotate": "Recording the deploy"}


@dataclass(frozen=True)
class Progress:
    """Where an operation is: queued (at a position), or running a step since when, with the provider's link."""

    step: str = "provider"
    since: str | None = None
    url: str | None = None
    position: int | None = None
    """Its place in the queue of operations waiting for an execution slot (step "queued")."""

    @classmethod
    def parse(cls, text: str | None) -> Progress:
        """Read what `dump` wrote (an empty progress when there is none)."""
        if not text:
            return cls()
        data = json.loads(text)
        position = data.get("position")
        return cls(str(data.get("step", "provider")), data.get("since"), data.get("url"),
                   int(position) if position is not None else None)

    def dump(self) -> str:
        """As stored on the operation."""
        data: dict[str, object] = {"step": self.step, "since": self.since, "url": self.url}
        if self.position is not None:
            data["position"] = self.position
        return json.dumps(data, sort_keys=True)

    @classmethod
    def queued(cls, position: int, since: str) -> Progress:
        """Waiting for an execution slot, ``position`` in the queue."""
        return cls("queued", since, position=position)


RESTARTING = "Opscord is restarting; try again in a minute."
NOT_APPROVED = "This request is not approved."
NO_LONGER_EXISTS = "This request no longer exists."
NOT_THIS_MESSAGE = "That button does not belong to this request's message; nothing was changed."
EXPIRED = "This request has expired; run the command again."
OWN_REQUEST = "You cannot approve your own request."
REQUESTER_ONLY = "Only the requester can confirm or cancel this."
APPROVAL_VOID = "an approver no longer holds an approver role, so the approval is void"


def request_line(op: Operation) -> str:
    """"🚀 Deploy order-service v2.4.1 to production" and the like."""
    icon = ICONS.get(op.action, "⚙️")
    if op.action == "deploy":
        return f"{icon} Deploy {op.service} {op.version} to {op.environment}"
    if op.action == "rollback":
        return f"{icon} Roll back {op.service} in {op.environment} from {op.previous_version} to {op.version}"
    if op.action == "scale":
        current = f"from {op.current_replicas} " if op.current_replicas is not None else ""
        return f"{icon} Scale {op.service} in {op.environment} {current}to {op.replicas} replicas"
    return f"{icon} Migrate the {op.service} database in {op.environment}"


def subject(op: Operation) -> str:
    """The request line without its icon: "Deploy order-service v2.4.1 to production"."""
    return request_line(op).split(" ", 1)[1]


def needs_sentence(op: Operation) -> str:
    """"Requires approval from a team lead." / "Requires 2 approvals …" / "Confirm to proceed."."""
    roles = " or ".join(role_phrase(r) for r in op.approver_roles)
    then = " The requester then confirms." if op.confirm else ""
    if op.quorum:
        return quorum.requirement_sentence(quorum.slots_of(op)) + then
    if op.approvals_required == 1:
        return f"Requires approval from {article(roles)}{roles}.{then}"
    if op.approvals_required > 1:
        return f"Requires {op.approvals_required} approvals from different people ({roles}).{then}"
    return "Confirm to proceed." if op.confirm else ""


def doing_line(op: Operation) -> str:
    """"Deploying order-service v2.4.1..."."""
    if op.action == "deploy":
        what = f"{op.service} {op.version}"
    elif op.action == "rollback":
        what = f"{op.service} in {op.environment} to {op.version}"
    elif op.action == "scale":
        what = f"{op.service} in {op.environment} to {op.replicas} replicas"
    else:
        what = f"{op.service} in {op.environment}"
    return f"{PROGRESSIVE.get(op.action, 'Running')} {what}..."


def who(name: str) -> str:
    """"@name", escaped (a username may hold markdown characters such as `_`)."""
    return "@" + shown(name, 40)


def mentions(names: list[str]) -> str:
    """"@bob" / "@bob and @carol"."""
    labelled = [who(n.removeprefix("@")) for n in names]
    if not labelled:
        return "nobody"
    return labelled[0] if len(labelled) == 1 else ", ".join(labelled[:-1]) + " and " + labelled[-1]


def approver_names(decisions: list[Decision]) -> list[str]:
    """Who approved, in order."""
    return [d.approver_name for d in decisions if d.decision == "approve"]


def subject_line(op: Operation, approvers: list[str]) -> str:
    """The first line of every card: what, where, who asked and who approved — kept through every edit."""
    if op.caused_by:
        return f"{request_line(op)} · started by the health gate for {who(op.requester_name)} · `{op.id}`"
    line = f"{request_line(op)} · requested by {who(op.requester_name)}"
    if approvers and op.status not in PENDING_STATUSES:
        line += f" · approved by {mentions(approvers)}"
    return line + (" · 🚨 break-glass" if op.break_glass else "")


def expiry_line(op: Operation) -> str:
    """"`op-…` · expires <t:…:R> · ✅/❌ reactions count too"."""
    expires = f" · expires <t:{int(parse_iso(op.expires_at).timestamp())}:R>" if op.expires_at else ""
    reactions = " · ✅/❌ reactions count too" if op.status == "pending_approval" else ""
    return f"`{op.id}`{expires}{reactions}"


def progress_line(op: Operation, now: datetime) -> str:
    """"⏳ Running the deploy · 0:42 · Run: <url>" while an operation runs."""
    progress = Progress.parse(op.progress)
    started = parse_iso(progress.since or op.started_at or op.created_at)
    seconds = max(0, int((now - started).total_seconds()))
    step = STEPS.get(progress.step, progress.step or STEPS["provider"])
    link = f" · Run: <{progress.url}>" if progress.url else ""
    return f"⏳ {step} · {seconds // 60}:{seconds % 60:02d}{link}"


def queued_line(position: int) -> str:
    """"⏳ Queued — position 3": the operation waits for one of the execution slots to free up."""
    return f"⏳ Queued — position {position}"


def card(op: Operation, decisions: list[Decision], now: datetime | None = None, *, pings: bool = True) -> Card:
    """What the operation's message shows now: its subject line, then its state (`pings`: call on approvers)."""
    approvers = approver_names(decisions)
    head = subject_line(op, approvers)
    plan = Plan.load(op.plan)
    planned = f"\n{plan.line()}" if plan is not None else ""
    if op.status == "pending_approval":
        if op.quorum:
            slots, tally = "\n" + quorum.tally(op, decisions).line(who), ""
        else:
            slots = ""
            tally = f"\n{len(approvers)}/{op.approvals_required} approved: {mentions(approvers)}" if approvers else ""
        return Card(op.id, f"{head}\n{needs_sentence(op)}{slots}{planned}\n{expiry_line(op)}{tally}", "approval",
                    ping_roles=op.approver_roles if pings else ())
    if op.status == "pending_confirmation":
        asked = (f"✅ Approved by {mentions(approvers)}. {who(op.requester_name)}, confirm to proceed." if approvers
                 else needs_sentence(op))
        return Card(op.id, f"{head}\n{asked}{planned}\n{expiry_line(op)}", "confirmation")
    if op.status in ("approved", "running") and (op.break_glass or op.caused_by):
        why = (f"🚨 Break-glass ({shown(op.break_glass, 200)}): approvals and freezes skipped; a review follows."
               if op.break_glass else f"🩺 The deploy `{op.caused_by}` is unhealthy: rolling back, no approval needed.")
        running = f"\n{progress_line(op, now or datetime.now(UTC))}" if op.status == "running" else ""
        return Card(op.id, f"{head}\n{why} {doing_line(op)}{running}",
                    ping_roles=op.approver_roles if pings and op.break_glass else ())
    if op.status in ("approved", "running"):
        if approvers:
            doing = f"✅ Approved by {mentions(approvers)}. {doing_line(op)}"
        elif op.confirm:
            doing = f"Confirmed by {who(op.requester_name)}. {doing_line(op)}"
        else:
            doing = doing_line(op)
        if op.status == "running":
            doing += f"\n{progress_line(op, now or datetime.now(UTC))}"
        elif (waiting := Progress.parse(op.progress)).step == "queued" and waiting.position is not None:
            doing += f"\n{queued_line(waiting.position)}"
        return Card(op.id, f"{head}\n{doing}")
    if op.status == "rejected":
        rejecter = next((d.approver_name for d in decisions if d.decision == "reject"), "an approver")
        return Card(op.id, f"{head}\n❌ Rejected by {who(rejecter)}.")
    if op.status == "cancelled":
        return Card(op.id, f"{head}\n↩️ Withdrawn by {who(op.requester_name)}.")
    if op.status == "expired":
        waited = "approved" if op.approvals_required and len(approvers) < op.approvals_required else "confirmed"
        return Card(op.id, f"{head}\n⌛ Expired: not {waited} in time.",
                    "confirmation" if op.confirm and not op.approvals_required else "approval", disabled=True)
    return Card(op.id, f"{head}\n{op.outcome or op.status}")


def decided_notice(op: Operation, decisions: list[Decision]) -> str | None:
    """What to tell a requester when their waiting request is decided or fails (None: nothing to tell)."""
    approvers = approver_names(decisions)
    what = f"your request — {subject(op)} —"
    waited = bool(op.approvals_required or op.confirm)
    if op.status in ("approved", "running") and op.approvals_required:
        return f"{what} was approved by {mentions(approvers)} and is running."
    if op.status == "pending_confirmation" and op.approvals_required:
        return f"{what} was approved by {mentions(approvers)}; confirm it to proceed."
    if op.status == "rejected":
        rejecter = next((d.approver_name for d in decisions if d.decision == "reject"), "an approver")
        return f"{what} was rejected by {who(rejecter)}."
    if op.status == "expired":
        return f"{what} expired before it was {'approved' if op.approvals_required else 'confirmed'}."
    if op.status in ("failed", "interrupted") and waited:
        return f"{what} did not succeed: {(op.outcome or op.status).splitlines()[0]}"
    if op.caused_by and op.status in ("succeeded", "failed", "interrupted"):
        return (f"the health gate's rollback of your deploy `{op.caused_by}` — {subject(op)} — ended: "
                f"{(op.outcome or op.status).splitlines()[0]}")
    return None


def void(op: Operation, reason: str) -> str:
    """The plan changed between what the approvers saw and the run: the request ends."""
    given = "approvals are" if op.approvals_required else "confirmation is"
    return (f"🚫 {VERBS[op.action]} not started: the plan changed since it was shown — {shown(reason, 900)}. "
            f"The {given} void; run the command again for a new plan.")


def no_open_slot(op: Operation, decisions: list[Decision]) -> str:
    """An approver whose roles fill only slots already taken (one person fills one slot)."""
    missing = quorum.missing_sentence(quorum.tally(op, decisions).missing())
    return f"Your approval would fill no open slot: this request still needs {missing}."


def locked(lock: Lock) -> str:
    """Why a request on a locked target is refused."""
    what = f" ({lock.command})" if lock.command else ""
    return (f"{lock.service} in {lock.environment} is locked by @{lock.holder_name}{what} since "
            f"{lock.since[:19].replace('T', ' ')} UTC; try again when it finishes.")


def locked_at_approval(op: Operation, lock: Lock) -> str:
    """The last approval arrived while another operation held the target."""
    return f"❌ {VERBS[op.action]} not started: {locked(lock)}"


def interrupted(op: Operation) -> str:
    """An operation that was running when Opscord stopped."""
    return (f"⚡ Interrupted: `{op.command}` by @{op.requester_name} was running when Opscord stopped; its outcome "
            f"is unknown. Check {op.service} in {op.environment} before retrying.")


def orphan_waiting(op: Operation, count: int) -> str:
    """A restart found the operation's provider still running and waits for it."""
    return (f"⏳ `{op.command}` by @{op.requester_name}: its provider was still running when Opscord restarted "
            f"({count} process{'es' if count != 1 else ''}); {op.service} in {op.environment} stays locked until it "
            f"ends.")


def orphan_ended(op: Operation, count: int) -> str:
    """A restart found the operation's provider still running and stopped it."""
    return (f"🛑 `{op.command}` by @{op.requester_name}: its provider was still running when Opscord restarted; "
            f"Opscord stopped it ({count} process{'es' if count != 1 else ''}). Check {op.service} in "
            f"{op.environment} before retrying.")


def failed(op: Operation, reason: str) -> str:
    """"❌ Deploy failed: <reason>."."""
    return f"❌ {VERBS[op.action]} failed: {reason.rstrip('.')}."


def already(op: Operation) -> str:
    """A click on a request that was decided meanwhile."""
    return f"This request is already {op.status.replace('_', ' ')}."


def only_approvers(op: Operation, verb: str) -> str:
    """"Only a team lead can approve this request."."""
    roles = " or ".join(role_phrase(r) for r in op.approver_roles)
    return f"Only {article(roles)}{roles} can {verb} this request."


def repeated_approval(op: Operation, approvals: int) -> str:
    """A second Approve by the same person."""
    return f"You already approved — {approvals} of {op.approvals_required}."


def repeated_rejection() -> str:
    """A second Reject by the same person."""
    return "You already rejected this request."


def run_link(url: str | None) -> str:
    """"\nRun: <url>" when the provider reported a link to its run."""
    return f"\nRun: <{url}>" if url else ""


def completed(op: Operation, health: tuple[bool | None, str] | None, url: str | None, dashboard: str | None) -> str:
    """The outcome of a provider run that succeeded, with its health check (None: nothing could tell)."""
    verb = VERBS[op.action]
    board = f"\nDashboard: <{dashboard}>" if dashboard else ""
    if health is None:
        return f"✅ {verb} complete. No health check is configured.{run_link(url)}{board}"
    ok, sentence = health
    if ok is None:
        return f"✅ {verb} complete. Health unknown: {sentence}{run_link(url)}{board}"
    if not ok:
        return f"❌ {verb} failed: health check failed — {sentence}{run_link(url)}{board}"
    return f"✅ {verb} complete. Health check passed.{run_link(url)}{board}"


def provider_failed(op: Operation, summary: str, url: str | None = None) -> str:
    """The provider ran and reported a failure."""
    return f"❌ {VERBS[op.action]} failed: {summary}{run_link(url)}"


def timed_out(op: Operation, seconds: float) -> str:
    """The provider did not finish within the operation time limit."""
    return f"❌ {VERBS[op.action]} failed: no result within {seconds:.0f} s."


def provider_crashed(op: Operation) -> str:
    """The provider raised something unexpected."""
    return f"❌ {VERBS[op.action]} failed: the provider crashed; the error was logged."


def stopped_by_shutdown(op: Operation) -> str:
    """Opscord stopped (SIGTERM) before the operation finished; its provider was stopped."""
    return (f"⚡ Interrupted: `{op.command}` by @{op.requester_name} was stopped because Opscord shut down before it "
            f"finished; its outcome is unknown. Check {op.service} in {op.environment} before retrying.")


def in_incident(op: Operation, text: str) -> str:
    """An operation's outcome as posted into its service's open incident thread."""
    return f"🔧 `{op.command}` by @{op.requester_name} in {op.environment}:\n{text}"
