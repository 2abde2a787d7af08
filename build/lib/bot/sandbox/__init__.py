"""The sandbox: the real bot against the local Discord emulator, driven from a console.

``python -m bot`` without ``DISCORD_TOKEN``, or ``python -m bot sandbox [--script FILE]``, starts the
emulator with a demo guild built from the config, runs OpsBot against it, and lets a person type
slash commands as one of the demo members and click buttons. See :mod:`bot.sandbox.app`.
"""

from bot.sandbox.app import run_sandbox

__all__ = ["run_sandbox"]
