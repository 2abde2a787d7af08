"""The console's completion: commands first, then what fits after each verb or slash command."""

from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document

from bot.sandbox.editor import ConsoleCompleter, Vocabulary


def complete(completer: ConsoleCompleter, text: str) -> list[str]:
    return [c.text for c in completer.get_completions(Document(text), CompleteEvent())]


def test_completion_of_commands_services_and_members():
    words = Vocabulary(commands=lambda: ["deploy", "audit recent", "audit verify", "incident create"],
                       members=["alice", "bob"], channels=["deployments", "general"],
                       services=["order-service", "payment-service"], environments=["staging", "production"])
    completer = ConsoleCompleter(words)
    assert complete(completer, "/de") == ["/deploy"]
    assert complete(completer, "a") == ["as", "audit"]
    assert complete(completer, "as b") == ["bob"]
    assert complete(completer, "in #g") == ["#general"]
    assert complete(completer, "click A") == ["Approve"]
    assert complete(completer, "/deploy ord") == ["order-service"]
    assert complete(completer, "/deploy order-service v1.0.0 pro") == ["production"]
    assert complete(completer, "/audit v") == ["verify"]
    assert complete(completer, "/incident create x se") == ["sev1", "sev2", "sev3"]
