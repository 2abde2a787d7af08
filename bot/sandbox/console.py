"""The console's actions: who acts where, slash commands, button clicks, and looking around."""

from __future__ import annotations

from collections.abc import Callable

from bot.sandbox.display import Renderer, visible_to
from bot.sandbox.editor import Vocabulary
from bot.sandbox.emulator import DiscordEmulator, InteractionHandle, Message
from bot.sandbox.parsing import (
    USAGE,
    Action,
    Click,
    ConsoleError,
    Fill,
    Help,
    Quit,
    ShowAudit,
    ShowMessages,
    Slash,
    SwitchChannel,
    SwitchUser,
    said,
)
from bot.sandbox.slash import (
    CHANNEL,
    MENTIONABLE,
    ROLE,
    USER,
    build_invocation,
    command_paths,
    command_usages,
    find_definition,
)
from bot.sandbox.watch import MessageWatcher
from bot.sandbox.world import DemoWorld
from bot.store import AuditRow, Store

RESPONSE_TIMEOUT_S = 5.0
MODAL, TEXT_INPUT, LABEL = 9, 4, 18

CONSOLE_HELP = [
    "/COMMAND VALUES… — run a slash command as the current user, values in option order or name:value,",
    "    quotes around values with spaces, e.g. /deploy order-service v2.4.1 production, /audit recent limit:5",
    *USAGE.values(),
    "help — this text; quit or exit (or Ctrl-D) — leave",
]


class Console:
    """Acts as one demo member in one channel at a time and prints what that member sees."""

    def __init__(self, emu: DiscordEmulator, world: DemoWorld, store: Store, out: Callable[[str], None]) -> None:
        self.emu = emu
        self.world = world
        self.store = store
        self.out = out
        self.renderer = Renderer(emu.state)
        self.watcher = MessageWatcher(emu.state, self.renderer, out)
        self.user = next(iter(world.users))
        self.channel = world.home_channel
        self.form: InteractionHandle | None = None
        """The form (modal) the bot opened last, until it is submitted."""

    @property
    def prompt(self) -> str:
        """``alice@#deployments> ``."""
        return f"{self.user}@#{self.channel}> "

    @property
    def user_id(self) -> int:
        """The acting member's ID."""
        return self.world.users[self.user]

    def vocabulary(self) -> Vocabulary:
        """What the line editor completes: commands, members, channels, services, environments."""
        def commands() -> list[str]:
            return command_paths(self.emu.synced_commands(self.world.guild_id))

        config = self.world.config
        return Vocabulary(commands=commands, members=list(self.world.users),
                          channels=[c.name for c in self.emu.get_guild(self.world.guild_id).channels.values()],
                          services=[s.name for s in config.services],
                          environments=[e.name for e in config.environments])

    def channel_id(self, name: str | None = None) -> int:
        """A channel or thread of the demo guild by name (the current one by default)."""
        wanted = (name or self.channel).lstrip("#").lower()
        for channel in self.emu.get_guild(self.world.guild_id).channels.values():
            if channel.name.lower() == wanted:
                return channel.id
        known = ", ".join(f"#{c.name}" for c in self.emu.get_guild(self.world.guild_id).channels.values())
        raise ConsoleError(f"no channel {said('#' + wanted)}; channels: {known}")

    async def execute(self, action: Action) -> bool:
        """Carry out one action; False when the person asked to leave."""
        if isinstance(action, Quit):
            return False
        if isinstance(action, SwitchUser):
            self.switch_user(action.name)
        elif isinstance(action, SwitchChannel):
            self.channel = self.emu.get_channel(self.channel_id(action.name)).name
        elif isinstance(action, Slash):
            await self.run_slash(action)
        elif isinstance(action, Click):
            await self.click(action)
        elif isinstance(action, Fill):
            await self.fill(action.text)
        elif isinstance(action, ShowMessages):
            self.show_messages(action)
        elif isinstance(action, ShowAudit):
            await self.show_audit(action.count)
        elif isinstance(action, Help):
            self.show_help()
        return True

    def switch_user(self, name: str) -> None:
        """Act as another demo member."""
        if name not in self.world.users:
            raise ConsoleError(f"no demo user {name!r}; users: {', '.join(self.world.users)}")
        self.user = name

    def lookup(self, kind: int, text: str) -> int | None:
        """The ID of the member, channel or role named ``text`` (or given by ID)."""
        guild = self.emu.get_guild(self.world.guild_id)
        wanted = text.lower()
        if kind in (USER, MENTIONABLE):
            for member in guild.members.values():
                if member.username.lower() == wanted or str(member.id) == text:
                    return member.id
        if kind in (ROLE, MENTIONABLE):
            for role in guild.roles.values():
                if role.name.lower().lstrip("@") == wanted or str(role.id) == text:
                    return role.id
        if kind == CHANNEL:
            for channel in guild.channels.values():
                if channel.name.lower() == wanted or str(channel.id) == text:
                    return channel.id
        return None

    async def run_slash(self, action: Slash) -> None:
        """Type a slash command and show the answer as it unfolds."""
        definition = find_definition(self.emu.synced_commands(self.world.guild_id), action.name)
        invocation = build_invocation(definition, action.words, self.lookup)
        self.watcher.snapshot()
        try:
            handle = await self.emu.run_command(self.world.guild_id, self.channel_id(), self.user_id,
                                                invocation.path, invocation.options)
        except ValueError as exc:
            raise ConsoleError(str(exc)) from None
        await self._answered(handle)

    async def click(self, action: Click) -> None:
        """Click the labelled button on the given message, or on the latest message here that has one."""
        message, button = self._find_button(action)
        self.watcher.snapshot()
        try:
            handle = await self.emu.click_button(message.id, str(button["custom_id"]), self.user_id)
        except ValueError as exc:
            raise ConsoleError(str(exc)) from None
        await self._answered(handle)

    async def fill(self, text: str) -> None:
        """Submit the open form with `text` in its text field."""
        form = self.form
        if form is None or form.modal is None:
            raise ConsoleError("no form is open; a command that needs one opens it")
        if form.user_id != self.user_id:
            raise ConsoleError("that form is another member's; switch back with `as`")
        fields = _text_inputs(form.modal)
        self.form = None
        self.watcher.snapshot()
        handle = await self.emu.submit_modal(form, {fields[0]: text} if fields else {})
        await self._answered(handle)

    def _find_button(self, action: Click) -> tuple[Message, dict[str, object]]:
        """The message and button to click; an enabled button wins over a newer disabled one."""
        if action.message_id is not None:
            message = self.emu.state.messages.get(action.message_id)
            if message is None or not visible_to(message, self.user_id):
                raise ConsoleError(f"no message {action.message_id}")
            candidates = [message]
        else:
            candidates = [m for m in reversed(self.emu.messages(self.channel_id())) if visible_to(m, self.user_id)]
        disabled: tuple[Message, dict[str, object]] | None = None
        for message in candidates:
            button = _labelled(message, action.label)
            if button is not None and not button.get("disabled"):
                return message, button
            if button is not None and disabled is None:
                disabled = (message, button)
        if disabled is not None:
            raise ConsoleError(f"the {disabled[1].get('label')} button on msg {disabled[0].id} is disabled")
        if action.message_id is not None:
            raise ConsoleError(f"msg {action.message_id} has no button labelled {action.label!r}")
        raise ConsoleError(f"no message in #{self.channel} has a button labelled {action.label!r}")

    async def _answered(self, handle: InteractionHandle) -> None:
        try:
            await handle.wait_response(timeout=RESPONSE_TIMEOUT_S)
        except (TimeoutError, AssertionError):
            raise ConsoleError(f"the bot did not answer within {RESPONSE_TIMEOUT_S:g} s") from None
        if handle.response_type == MODAL and handle.modal is not None:
            self.form = handle
            for line in _form_lines(handle.modal):
                self.out(line)
            return
        if not await self.watcher.follow(self.user_id):
            self.out("(still running; type `messages` later to see how it ends)")

    def show_messages(self, action: ShowMessages) -> None:
        """The last N messages of a channel that the current member can see."""
        channel_id = self.channel_id(action.channel)
        shown = [m for m in self.emu.messages(channel_id) if visible_to(m, self.user_id)][-action.count:]
        if not shown:
            self.out(f"(no messages in #{self.emu.get_channel(channel_id).name})")
        for message in shown:
            for line in self.renderer.lines(message, edited=message.edited > 0 and not message.loading):
                self.out(line)

    async def show_audit(self, count: int) -> None:
        """The last audit rows, oldest first, one compact line each."""
        rows = list(reversed(await self.store.audit_recent(count)))
        if not rows:
            self.out("(the audit log is empty)")
        for row in rows:
            self.out(audit_line(row))

    def show_help(self) -> None:
        """Console commands, then the bot's slash commands."""
        for line in CONSOLE_HELP:
            self.out(line)
        self.out("Slash commands:")
        for line in command_usages(self.emu.synced_commands(self.world.guild_id)):
            self.out(f"  {line}")
        self.out(f"Users: {', '.join(self.world.users)}; channels: "
                 f"{', '.join('#' + c for c in self.world.channels)}")


def _text_inputs(modal: dict[str, object]) -> list[str]:
    """The custom_ids of a modal's text inputs, in order (inside action rows or labels)."""
    found: list[str] = []

    def walk(item: object) -> None:
        if not isinstance(item, dict):
            return
        if item.get("type") == TEXT_INPUT:
            found.append(str(item.get("custom_id")))
        for child in [*(item.get("components") or []), item.get("component")]:
            walk(child)

    for item in modal.get("components") or []:  # type: ignore[attr-defined]
        walk(item)
    return found


def _form_lines(modal: dict[str, object]) -> list[str]:
    """A form as the member sees it, and how to answer it."""
    lines = [f"📝 {modal.get('title')}"]
    for item in modal.get("components") or []:  # type: ignore[attr-defined]
        if isinstance(item, dict) and item.get("type") == LABEL:
            lines.append(f"  {item.get('label')}" + (f" — {item['description']}" if item.get("description") else ""))
    lines.append("  (answer with: type TEXT)")
    return lines


def _labelled(message: Message, label: str) -> dict[str, object] | None:
    """The message's button whose label (with or without its emoji) is ``label``, case-insensitively."""
    wanted = label.lower()
    for item in message.walk_components():
        if item.get("type") != 2:
            continue
        emoji = (item.get("emoji") or {}).get("name")
        text = str(item.get("label") or "")
        if wanted in (text.lower(), f"{emoji} {text}".lower()):
            return dict(item)
    return None


def audit_line(row: AuditRow) -> str:
    """``#7 2026-03-04T15:23:47Z @alice success /deploy … · approved by @bob · 1.2s · #deployments``."""
    parts = [f"#{row.id}", row.timestamp, row.user, row.result, row.command]
    if row.approved_by:
        parts.append(f"· approved by {row.approved_by}")
    if row.duration_seconds is not None:
        parts.append(f"· {row.duration_seconds:g}s")
    if row.channel:
        parts.append(f"· {row.channel}")
    return " ".join(parts)
