"""The console's line parsing: console commands, and slash commands mapped onto synced definitions."""

import pytest

from bot.sandbox.parsing import (
    Click,
    ConsoleError,
    Help,
    Quit,
    ShowAudit,
    ShowMessages,
    Slash,
    SwitchChannel,
    SwitchUser,
    parse_line,
)
from bot.sandbox.slash import BOOLEAN, CHANNEL, INTEGER, STRING, USER, build_invocation, command_usages, find_definition


def opt(name, kind=STRING, required=True, **extra):
    return {"name": name, "type": kind, "description": name, "required": required, **extra}


COMMANDS = [
    {"id": "1", "name": "deploy", "type": 1, "description": "d",
     "options": [opt("service"), opt("version"), opt("environment")]},
    {"id": "2", "name": "scale", "type": 1, "description": "s",
     "options": [opt("service"), opt("replicas", INTEGER), opt("environment")]},
    {"id": "3", "name": "audit", "type": 1, "description": "a", "options": [
        {"name": "recent", "type": 1, "description": "r",
         "options": [opt("user", USER, False), opt("service", required=False), opt("limit", INTEGER, False)]},
        {"name": "verify", "type": 1, "description": "v", "options": []},
    ]},
    {"id": "4", "name": "notify", "type": 1, "description": "n", "options": [
        opt("level", choices=[{"name": "Low", "value": "low"}, {"name": "High", "value": "high"}]),
        opt("loud", BOOLEAN, False), opt("where", CHANNEL, False)]},
    {"id": "5", "name": "Inspect", "type": 2, "description": ""},
]
IDS = {(USER, "bob"): 42, (CHANNEL, "general"): 7}


def lookup(kind, text):
    return IDS.get((kind, text))


def invoke(line):
    action = parse_line(line)
    assert isinstance(action, Slash)
    return build_invocation(find_definition(COMMANDS, action.name), action.words, lookup)


def test_positional_values_follow_the_definition_order():
    inv = invoke("/deploy order-service v2.4.1 production")
    assert inv.path == "deploy"
    assert inv.options == {"service": "order-service", "version": "v2.4.1", "environment": "production"}


def test_values_are_typed_per_option():
    assert invoke("/scale api-gateway 6 production").options["replicas"] == 6
    inv = invoke("/notify high yes #general")
    assert inv.options == {"level": "high", "loud": True, "where": 7}


def test_name_value_options_and_positionals_mix():
    inv = invoke("/deploy environment:staging order-service v1.0.0")
    assert inv.options == {"service": "order-service", "version": "v1.0.0", "environment": "staging"}
    inv = invoke("/audit recent limit:5")
    assert inv.path == "audit recent" and inv.options == {"limit": 5}


def test_subcommands_and_optional_positionals():
    inv = invoke("/audit recent @bob order-service 3")
    assert inv.options == {"user": 42, "service": "order-service", "limit": 3}
    assert invoke("/audit verify").path == "audit verify"


def test_quotes_keep_spaces_and_colons_in_values_stay():
    inv = invoke('/deploy "order service" "v1: rc" staging')
    assert inv.options["service"] == "order service" and inv.options["version"] == "v1: rc"
    inv = invoke("/audit recent service:a:b")
    assert inv.options == {"service": "a:b"}


def test_choices_accept_name_or_value():
    assert invoke("/notify Low").options["level"] == "low"
    with pytest.raises(ConsoleError, match="must be one of Low, High"):
        invoke("/notify medium")


@pytest.mark.parametrize(("line", "message"), [
    ("/deplyo a b c", "unknown command /deplyo; the bot has /audit, /deploy, /notify, /scale"),
    ("/deploy order-service", "/deploy is missing version, environment; usage: /deploy <service> <version> "
                              "<environment>"),
    ("/deploy a b c d", "too many values for /deploy ('d')"),
    ("/scale api-gateway lots production", "option 'replicas' of /scale takes a whole number, not 'lots'"),
    ("/audit", "/audit needs a subcommand: recent, verify"),
    ("/audit nope", "/audit needs a subcommand: recent, verify (not 'nope')"),
    ("/audit recent limit:1 limit:2", "option 'limit' of /audit recent is given twice"),
    ("/audit recent zed", "option 'user' of /audit recent: no member 'zed'"),
    ("/notify low maybe", "option 'loud' of /notify takes true or false, not 'maybe'"),
    ("/Inspect", "unknown command /inspect"),
])
def test_bad_slash_commands_are_one_clear_line(line, message):
    with pytest.raises(ConsoleError) as caught:
        invoke(line)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(("line", "action"), [
    ("as bob", SwitchUser("bob")),
    ("as @Bob", SwitchUser("bob")),
    ("in #general", SwitchChannel("general")),
    ("click Approve", Click("Approve")),
    ("click Approve 1234567", Click("Approve", 1234567)),
    ('click "Roll back"', Click("Roll back")),
    ("messages", ShowMessages(None, 5)),
    ("messages #audit 3", ShowMessages("audit", 3)),
    ("messages 2", ShowMessages(None, 2)),
    ("audit", ShowAudit(10)),
    ("audit 3", ShowAudit(3)),
    ("help", Help()),
    ("quit", Quit()),
    ("EXIT", Quit()),
    ("  /audit   verify ", Slash("audit", ("verify",))),
    ("click Approve ²", Click("Approve ²")),  # not a message id (int("²") fails)
    ("messages ²", ShowMessages("²")),
])
def test_console_commands(line, action):
    assert parse_line(line) == action


@pytest.mark.parametrize("line", ["", "   ", "# a comment"])
def test_blank_lines_and_comments_do_nothing(line):
    assert parse_line(line) is None


@pytest.mark.parametrize(("line", "message"), [
    ("deploy x", "unknown console command 'deploy'"),
    ("as", "usage: as USER"),
    ("audit 0", "the count must be a whole number from 1 to 1000"),
    ("audit 1001", "the count must be a whole number from 1 to 1000"),
    ("audit ²", "the count must be a whole number from 1 to 1000, not '²'"),  # isdigit(), yet no int
    ('/deploy "open', "cannot read the line: no closing quotation"),
    ("/", "type a command after the slash"),
])
def test_bad_console_lines(line, message):
    with pytest.raises(ConsoleError, match=message):
        parse_line(line)


def test_usages_list_every_leaf_command():
    assert command_usages(COMMANDS) == [
        "/audit recent [user] [service] [limit]",
        "/audit verify",
        "/deploy <service> <version> <environment>",
        "/notify <level> [loud] [where]",
        "/scale <service> <replicas> <environment>",
    ]
