"""Role × command matrix for the example config (the seed's roles)."""

import pytest

from bot.config import load_config
from bot.errors import MissingCapability, PermissionDenied
from bot.operation_types import Actor, ActorRole, OperationInput
from bot.permissions import Authorizer, check_access
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
    from bot.pipeline import Pipeline
    pipeline = Pipeline.__new__(Pipeline)
    pipeline.config, pipeline.authorizer = CONFIG, Authorizer(CONFIG)
    inp = OperationInput(action=action, service="order-service", environment="production", command="/x")
    if MATRIX[member]["operate"]:
        pipeline._authorize(inp, MEMBERS[member])
    else:
        with pytest.raises(PermissionDenied):
            pipeline._authorize(inp, MEMBERS[member])


@pytest.mark.parametrize("member", sorted(MATRIX))
def test_audit_access(member):
    authorizer = Authorizer(CONFIG)
    if MATRIX[member]["audit"]:
        check_access(authorizer, CONFIG, "audit", MEMBERS[member])
    else:
        with pytest.raises(MissingCapability, match="You need one of these roles to use /audit"):
            check_access(authorizer, CONFIG, "audit", MEMBERS[member])


@pytest.mark.parametrize("member", sorted(MATRIX))
def test_may_approve_a_production_migration(member):
    approver_roles = next(r.approver_roles for r in CONFIG.policy if r.action == "migrate")
    assert Authorizer(CONFIG).has_any(MEMBERS[member], approver_roles) is MATRIX[member]["approve"]


def test_roles_by_id_work_too():
    import tomllib

    from bot.config import parse_config
    raw = tomllib.loads(EXAMPLE_CONFIG.read_text())
    raw["roles"]["operator"] = [1]
    authorizer = Authorizer(parse_config(raw))
    assert authorizer.has(Actor("9", "x", (ActorRole(1, "renamed"),)), "operator")
    assert not authorizer.has(Actor("9", "x", (ActorRole(2, "ops"),)), "operator")
