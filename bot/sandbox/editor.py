"""The console's line editor on a terminal: prompt_toolkit, with history and completion, and output above it.

`PromptLines` reads lines with a `PromptSession` on the event loop (the bot keeps running while
the person types). While a line is being edited, everything printed — the console's own lines and
every log record — goes through prompt_toolkit's `patch_stdout`, which draws it above the prompt
and redraws the prompt with what was typed so far, so a log line never tears through the input.

`ConsoleCompleter` completes the first word from the console's verbs and the bot's slash commands,
and later words from what fits there: members after `as`, channels after `in`, button labels after
`click`, and services, environments, members and option names after a slash command.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from prompt_toolkit import PromptSession
from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document
from prompt_toolkit.history import InMemoryHistory
from prompt_toolkit.patch_stdout import patch_stdout

VERBS = ("as", "in", "click", "messages", "audit", "help", "quit")
BUTTONS = ("Approve", "Reject", "Confirm", "Cancel")


@dataclass
class Vocabulary:
    """The words the completer offers; `commands` is read on every completion (commands sync after start)."""

    commands: Callable[[], Iterable[str]]
    """Slash command paths, e.g. "deploy", "audit recent"."""
    members: Iterable[str] = ()
    channels: Iterable[str] = ()
    services: Iterable[str] = ()
    environments: Iterable[str] = ()
    extra: Iterable[str] = field(default_factory=lambda: ("sev1", "sev2", "sev3", "identified", "monitoring"))


class ConsoleCompleter(Completer):
    """Completes console lines from a `Vocabulary`."""

    def __init__(self, words: Vocabulary) -> None:
        self.words = words

    def candidates(self, line: str) -> list[str]:
        """Every word that may stand where the last word of `line` is being typed."""
        parts = line.split(" ")
        if len(parts) == 1:
            slash = sorted({"/" + path.split(" ")[0] for path in self.words.commands()})
            return [*VERBS, *slash]
        first = parts[0]
        if first == "as":
            return list(self.words.members) if len(parts) == 2 else []
        if first == "in":
            return [f"#{c}" for c in self.words.channels] if len(parts) == 2 else []
        if first == "click":
            return list(BUTTONS)
        if first in ("messages", "audit"):
            return [f"#{c}" for c in self.words.channels]
        if first.startswith("/"):
            subcommands = [p.split(" ", 1)[1] for p in self.words.commands()
                           if p.startswith(first[1:] + " ") and len(parts) == 2]
            return [*subcommands, *self.words.services, *self.words.environments, *self.words.members,
                    *self.words.extra]
        return []

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterator[Completion]:
        """prompt_toolkit's hook: the candidates that start with the word before the cursor."""
        line = document.text_before_cursor
        current = line.split(" ")[-1]
        for word in self.candidates(line):
            if word.lower().startswith(current.lower()) and word != current:
                yield Completion(word, start_position=-len(current))


class PromptLines:
    """A person at a terminal: line editing, history (↑/↓), Tab completion; output drawn above the prompt."""

    stops_on_error = False

    def __init__(self, out: Callable[[str], None], completer: Completer | None = None) -> None:
        self.out = out
        self._count = 0
        self._session: PromptSession[str] = PromptSession(history=InMemoryHistory(), completer=completer,
                                                          complete_while_typing=False)

    def use(self, completer: Completer) -> None:
        """Complete with `completer` from now on (the console's words are known once the bot is up)."""
        self._session.completer = completer

    @property
    def location(self) -> str:
        """``terminal line 3``."""
        return f"terminal line {self._count}"

    async def read(self, prompt: str) -> str | None:
        """The next line; None at Ctrl-D."""
        try:
            line = await self._session.prompt_async(prompt)
        except EOFError:
            return None
        except KeyboardInterrupt:
            return None  # Ctrl-C leaves, as Ctrl-D and `quit` do
        self._count += 1
        return line


@contextlib.contextmanager
def output_above_prompt() -> Iterator[None]:
    """Route stdout, stderr and the logging handlers writing to them through prompt_toolkit while inside."""
    root = logging.getLogger()
    with patch_stdout(raw=True):
        moved = [(h, h.stream) for h in root.handlers if isinstance(h, logging.StreamHandler)
                 and h.stream in (sys.__stderr__, sys.__stdout__)]
        for handler, _ in moved:
            handler.setStream(sys.stderr)
        try:
            yield
        finally:
            for handler, stream in moved:
                handler.setStream(stream)
