"""The sentences operations show in Discord (shared by the pipeline's messages and the cogs)."""

from __future__ import annotations

from bot.operations import Operation
from bot.policy import article, role_phrase

ICONS = {"deploy": "🚀", "rollback": "⏪", "scale": "📏", "migrate": "🗃️"}
VERBS = {"deploy": "Deploy", "rollback": "Rollback", "scale": "Scale", "migrate": "Migration"}
PROGRESSIVE = {"deploy": "Deploying", "rollback": "Rolling back", "scale": "Scaling", "migrate": "Migrating"}


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


def needs_sentence(op: Operation) -> str:
    """"Requires approval from a team lead." / "Requires 2 approvals …"."""
    roles = " or ".join(role_phrase(r) for r in op.approver_roles)
    then = " The requester then confirms." if op.confirm else ""
    if op.approvals_required == 1:
        return f"Requires approval from {article(roles)}{roles}.{then}"
    if op.approvals_required > 1:
        return f"Requires {op.approvals_required} approvals from different people ({roles}).{then}"
    return "Confirm to proceed." if op.confirm else ""


def doing_line(op: Operation) -> str:
    """"Deploying order-service v2.4.1..."."""
    what = f"{op.service} {op.version}" if op.action == "deploy" else f"{op.service} in {op.environment}"
    if op.action == "rollback":
        what = f"{op.service} in {op.environment} to {op.version}"
    if op.action == "scale":
        what = f"{op.service} in {op.environment} to {op.replicas} replicas"
    return f"{PROGRESSIVE.get(op.action, 'Running')} {what}..."


def mentions(names: list[str]) -> str:
    """"@bob" / "@bob and @carol"."""
    labelled = [n if n.startswith("@") else f"@{n}" for n in names]
    return labelled[0] if len(labelled) == 1 else ", ".join(labelled[:-1]) + " and " + labelled[-1]
