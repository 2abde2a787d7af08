"""What `check-config` finds beyond a config that merely parses: the mistakes that bite at run time.

- a `[roles]` key that is no capability (a typo such as `operater`), and `operator` mapped to nothing;
- a capability mapped to roles that no policy row, freeze or `[access]` list gives anything to;
- the example's placeholder ids, still in place;
- secret variables the config names that are not set.

Every check reads the raw TOML data, so they all run — and are all reported, with their key paths —
even when other parts of the file do not parse.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import TypeAdapter, ValidationError

from bot.config import CAPABILITIES, PROVIDER_SECTIONS, AccessConfig, AlertsConfig, Problem, ServiceConfig

PLACEHOLDER_GUILD_ID = 100000000000000001
"""`[guild] id` in opscord.example.toml."""
PLACEHOLDER_MEMBER_IDS = frozenset({223456789012345678, 323456789012345678})
"""The member ids of the README's `[fallback.users]` example."""
SEED_APPROVERS = frozenset({"team_lead", "dba"})
"""Who approves in the seed's matrix (the policy when the config has no rows)."""


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _names(values: Any) -> set[str]:
    return {v for v in values if isinstance(v, str)} if isinstance(values, list) else set()


def _approvers(raw: dict[str, Any]) -> set[str]:
    """Capabilities some policy row or freeze asks to approve (or `[break_glass]` names)."""
    rows = _dicts(raw.get("policy"))
    named = set().union(*(_names(r.get("approver_roles")) | _names(list(r.get("require") or {}))
                          for r in rows)) if rows else set(SEED_APPROVERS)
    named = named.union(*(_names(f.get("approver_roles")) for f in _dicts(raw.get("freezes"))))
    glass = raw.get("break_glass")
    if isinstance(glass, dict):  # who breaks glass and who reviews it use their capabilities too
        named |= _names(glass.get("roles", ["incident_commander"])) | _names(glass.get("reviewers", ["team_lead"]))
    return named


def _access_lists(raw: dict[str, Any]) -> tuple[set[str], set[str]]:
    """(capabilities named in [access] lists the config writes, those the defaults add)."""
    written = raw.get("access") if isinstance(raw.get("access"), dict) else {}
    assert isinstance(written, dict)
    explicit = set().union(*(_names(v) for v in written.values()))
    defaults = AccessConfig()
    implied = set().union(*(getattr(defaults, family) for family in AccessConfig.model_fields if family not in written))
    return explicit, implied


def role_problems(raw: dict[str, Any]) -> list[Problem]:
    """Unknown capability names, `operator` unmapped, and capabilities nothing uses."""
    roles = raw.get("roles")
    if not isinstance(roles, dict):
        return []
    approvers = _approvers(raw)
    explicit, implied = _access_lists(raw)
    problems = []
    for capability in roles:
        if capability in CAPABILITIES or capability in approvers or capability in explicit:
            continue
        close = difflib.get_close_matches(capability, CAPABILITIES, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        problems.append(Problem(f"roles.{capability}", f"{capability!r} is not a capability{hint}; the capabilities "
                                f"are {', '.join(CAPABILITIES)}, or a name a policy row asks to approve"))
    env_operators = any(e.get("operator_roles") for e in _dicts(raw.get("environments")))
    if not roles.get("operator") and not env_operators:
        problems.append(Problem("roles.operator", "no role holds operator, so nobody can run an operation"))
    for capability in ("team_lead", "dba", "incident_commander", "viewer"):
        if capability not in roles or capability in approvers or capability in explicit:
            continue
        if capability in ("incident_commander", "viewer") and capability in implied:
            continue  # the default [access] lists give them /incident and the read commands
        problems.append(Problem(f"roles.{capability}", f"no policy row, freeze or [access] list uses {capability}, "
                                "so its roles grant nothing of their own"))
    return problems


def placeholder_problems(raw: dict[str, Any]) -> list[Problem]:
    """The example's ids, still in place."""
    problems = []
    guild = raw.get("guild")
    if isinstance(guild, dict) and guild.get("id") == PLACEHOLDER_GUILD_ID:
        problems.append(Problem("guild.id", f"{PLACEHOLDER_GUILD_ID} is the example's placeholder: set your "
                                "server's ID (Developer Mode → right-click the server → Copy Server ID)"))
    fallback = raw.get("fallback")
    users = fallback.get("users") if isinstance(fallback, dict) else None
    for login, user in (users.items() if isinstance(users, dict) else []):
        if isinstance(user, dict) and user.get("member_id") in PLACEHOLDER_MEMBER_IDS:
            problems.append(Problem(f"fallback.users.{login}.member_id", "is the README example's placeholder: set "
                                    "the person's Discord member id (right-click them → Copy User ID)"))
    return problems


@functools.cache
def _section_adapter(name: str) -> TypeAdapter[Any]:
    annotation = ServiceConfig.model_fields[name].annotation
    assert annotation is not None
    return TypeAdapter(annotation)


def _section_settings(name: str, value: Any) -> Any:
    """A provider section validated on its own (None when it does not parse: reported elsewhere)."""
    try:
        return _section_adapter(name).validate_python(value)
    except ValidationError:
        return None


def secret_problems(raw: dict[str, Any], environ: Mapping[str, str]) -> list[Problem]:
    """Secret variables the config names (defaults included) that are unset or empty."""
    from bot.config import apply_defaults

    problems = []
    for i, service in enumerate(_dicts(apply_defaults(raw).get("services"))):
        for section in PROVIDER_SECTIONS:
            if not isinstance(service.get(section), dict):
                continue
            settings = _section_settings(section, service[section])
            for name in settings.missing_env(environ) if settings is not None else []:
                problems.append(Problem(f"services[{i}].{section}", f"environment variable {name} is not set"))
    if isinstance(raw.get("alerts"), dict):
        try:
            alerts = AlertsConfig.model_validate(raw["alerts"])
        except ValidationError:
            alerts = None
        if alerts is not None and not environ.get(alerts.token_env):
            problems.append(Problem("alerts.token_env", f"environment variable {alerts.token_env} is not set"))
    return problems


def run_time_problems(raw: dict[str, Any], environ: Mapping[str, str]) -> list[Problem]:
    """Everything above, in file order of concern."""
    return [*placeholder_problems(raw), *role_problems(raw), *secret_problems(raw, environ)]


def merged(*groups: Iterable[Problem]) -> list[Problem]:
    """The problems of several checks, each once."""
    seen: dict[tuple[str, str], Problem] = {}
    for group in groups:
        for problem in group:
            seen.setdefault((problem.path, problem.message), problem)
    return list(seen.values())
