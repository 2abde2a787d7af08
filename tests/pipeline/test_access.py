"""Role × command matrix for the example config (the seed's roles)."""

import pytest

from bot.config import load_config
from bot.errors import PermissionDenied
from bot.pipeline import Access, Actor, ActorRole, Invocation, OperationInput
from tests.conftest import EXAMPLE_CONFIG

CONFIG = load_config(EXAMPLE_CONFIG)
ROLES = {"ops": ActorRole(1, "ops"), "team-lead": ActorRole(2, "team-lead"), "dba": ActorRole(3, "dba"),
         "engineering": ActorRole(4, "engineering"), "incident-commander": ActorRole(5, "incident-commander")}
MEMBERS = {name: Actor(str(i), name, tuple(ROLES[r] for r in roles)) for i, (name, roles) in enumerate({
    "alice": ["ops"], "bob": ["team-lead"], "carol": ["dba"], "dave": ["engineering"], "erin": ["incident-commander"],
    "mallory": []}.items())}

# who may run operations (operator) and read the audit trail (viewer and up)
MATRIX = {
    "alice": {"operate": True, "audit": True, "approve": False},
    "bob": {"operate": False, "audit": True, "approve": True},
    "carol": {"operate": False, "audit": True, "approve": True},
    "dave": {"operate": False, "audit": True, "approve": False},
    "erin": {"operate": False, "audit": True, "approve": False},
    "mallory": {"operate": False, "audit": False, "approve": False},
}


@pytest.mark.parametrize("member", sorted(MATRIX))
@pytest.mark.parametrize("action", ["deploy", "rollback", "scale", "migrate"])
def test_operate(member, action):
    access = Access(CONFIG)
    inp = OperationInput(action=action, service="order-service", environment="production")
    call = Invocation(MEMBERS[member], "/x", channel_name="deployments")
    if MATRIX[member]["operate"]:
        access.require_operate(call, inp)
    else:
        with pytest.raises(PermissionDenied):
            access.require_operate(call, inp)


@pytest.mark.parametrize("member", sorted(MATRIX))
def test_audit_access(member):
    access = Access(CONFIG)
    if MATRIX[member]["audit"]:
        access.require_family(MEMBERS[member], "audit")
    else:
        with pytest.raises(PermissionDenied, match="You need one of these roles to use /audit"):
            access.require_family(MEMBERS[member], "audit")


@pytest.mark.parametrize("member", sorted(MATRIX))
def test_may_approve_a_production_migration(member):
    approver_roles = next(r.approver_roles for r in CONFIG.policy if r.action == "migrate")
    assert Access(CONFIG).may_approve(MEMBERS[member], approver_roles) is MATRIX[member]["approve"]


def test_roles_by_id_work_too():
    import tomllib

    from bot.config import parse_config
    raw = tomllib.loads(EXAMPLE_CONFIG.read_text())
    raw["roles"]["operator"] = [1]
    access = Access(parse_config(raw))
    assert access.holds(Actor("9", "x", (ActorRole(1, "renamed"),)), "operator")
    assert not access.holds(Actor("9", "x", (ActorRole(2, "ops"),)), "operator")
