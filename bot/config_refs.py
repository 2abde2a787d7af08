"""Cross-reference checks on the raw config data (roles, environments, services named elsewhere).

They run on the raw TOML, not the models, so they are reported even when other parts fail to parse:
check-config lists every problem at once.
"""

from __future__ import annotations

from typing import Any


def reference_problems(raw: dict[str, Any]) -> list[tuple[str, str]]:
    """Cross-reference checks on the raw data, so they run even when other fields are malformed."""
    problems: list[tuple[str, str]] = []
    roles = raw.get("roles") if isinstance(raw.get("roles"), dict) else {}
    assert isinstance(roles, dict)
    env_names = {e.get("name") for e in raw.get("environments") or [] if isinstance(e, dict)}
    services = [s for s in raw.get("services") or [] if isinstance(s, dict)]
    service_names = {s.get("name") for s in services}

    seen: set[object] = set()
    for i, svc in enumerate(services):
        if svc.get("name") in seen:
            problems.append((f"services[{i}].name", f"duplicate service {svc.get('name')!r}"))
        seen.add(svc.get("name"))
        for j, env in enumerate(svc.get("environments") or []):
            if isinstance(env, str) and env not in env_names:
                problems.append((f"services[{i}].environments[{j}]", f"undefined environment {env!r}"))

    for i, row in enumerate(raw.get("policy") or []):
        if not isinstance(row, dict):
            continue
        for j, role in enumerate(row.get("approver_roles") or []):
            if isinstance(role, str) and role not in roles:
                problems.append((f"policy[{i}].approver_roles[{j}]", f"undefined role {role!r}"))
        env = row.get("environment", "*")
        if isinstance(env, str) and env != "*" and env not in env_names:
            problems.append((f"policy[{i}].environment", f"undefined environment {env!r}"))
        svc_name = row.get("service", "*")
        if isinstance(svc_name, str) and svc_name != "*" and svc_name not in service_names:
            problems.append((f"policy[{i}].service", f"undefined service {svc_name!r}"))
        require = row.get("require")
        for role in require if isinstance(require, dict) else {}:
            if role not in roles:
                known = ", ".join(sorted(roles)) or "none"
                problems.append((f"policy[{i}].require.{role}", f"undefined role {role!r} (the roles are: {known})"))
        approvals = row.get("approvals", 0)
        if isinstance(approvals, int) and approvals > 0 and not row.get("approver_roles"):
            problems.append((f"policy[{i}].approver_roles", "must name at least one role when approvals > 0"))

    for i, freeze in enumerate(raw.get("freezes") or []):
        if not isinstance(freeze, dict):
            continue
        for j, env in enumerate(freeze.get("environments") or []):
            if isinstance(env, str) and env not in env_names:
                problems.append((f"freezes[{i}].environments[{j}]", f"undefined environment {env!r}"))
        for j, role in enumerate(freeze.get("approver_roles") or []):
            if isinstance(role, str) and role not in roles:
                problems.append((f"freezes[{i}].approver_roles[{j}]", f"undefined role {role!r}"))
        if isinstance(freeze.get("approvals"), int) and freeze["approvals"] > 0 and not freeze.get("approver_roles"):
            problems.append((f"freezes[{i}].approver_roles", "must name at least one role when approvals > 0"))

    glass = raw.get("break_glass") if isinstance(raw.get("break_glass"), dict) else {}
    assert isinstance(glass, dict)
    for key in ("roles", "reviewers"):
        for j, role in enumerate(glass.get(key) or []):
            if isinstance(role, str) and role not in roles:
                problems.append((f"break_glass.{key}[{j}]", f"undefined role {role!r}"))

    for i, gate in enumerate(raw.get("health_gates") or []):
        if not isinstance(gate, dict):
            continue
        env = gate.get("environment", "*")
        if isinstance(env, str) and env != "*" and env not in env_names:
            problems.append((f"health_gates[{i}].environment", f"undefined environment {env!r}"))
        svc_name = gate.get("service", "*")
        if isinstance(svc_name, str) and svc_name != "*" and svc_name not in service_names:
            problems.append((f"health_gates[{i}].service", f"undefined service {svc_name!r}"))

    alerts = raw.get("alerts") if isinstance(raw.get("alerts"), dict) else {}
    assert isinstance(alerts, dict)
    for i, rule in enumerate(alerts.get("rules") or []):
        name = rule.get("service") if isinstance(rule, dict) else None
        if isinstance(name, str) and name not in service_names:
            problems.append((f"alerts.rules[{i}].service", f"undefined service {name!r}"))

    access = raw.get("access") if isinstance(raw.get("access"), dict) else {}
    assert isinstance(access, dict)
    for family, caps in access.items():
        for j, cap in enumerate(caps if isinstance(caps, list) else []):
            if isinstance(cap, str) and cap not in roles:
                problems.append((f"access.{family}[{j}]", f"undefined role {cap!r}"))
    return problems
