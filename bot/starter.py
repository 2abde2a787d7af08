"""`opscord init`: a starter config and `.env` in the current directory, from the files the package carries.

`bot/examples/` holds the example config, the `.env` template and the demo deploy provider (the
repository's top-level `opscord.example.toml`, `.env.example` and `scripts/demo_provider.py` are links
to them), so an installed `opscord` can write a config that runs the sandbox anywhere: its demo
provider commands name this Python and the installed script by absolute path.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent / "examples"
EXAMPLE_CONFIG = EXAMPLES / "opscord.example.toml"
ENV_TEMPLATE = EXAMPLES / "env.example"
DEMO_PROVIDER = EXAMPLES / "demo_provider.py"
DEMO_SCRIPT = Path(__file__).resolve().parent / "sandbox" / "demo.txt"
CONFIG_NAME, ENV_NAME = "opscord.toml", ".env"
_DEMO_ARGV = '"python3", "scripts/demo_provider.py"'


class InitError(Exception):
    """`init` would overwrite a file; the message says which."""


def starter_config() -> str:
    """The example config, its demo provider pointed at this Python and the installed script."""
    text = EXAMPLE_CONFIG.read_text(encoding="utf-8")
    text = text.replace(_DEMO_ARGV, f"{json.dumps(sys.executable)}, {json.dumps(str(DEMO_PROVIDER))}")
    return text.replace("# Opscord example config:", f"# Opscord starter config (written by opscord init from "
                                                       f"{EXAMPLE_CONFIG.name}):", 1)


def starter_env() -> str:
    """The `.env` template, pointing at the starter config."""
    return ENV_TEMPLATE.read_text(encoding="utf-8").replace("OPSCORD_CONFIG=opscord.example.toml",
                                                             f"OPSCORD_CONFIG={CONFIG_NAME}", 1)


def init(directory: Path, *, force: bool = False) -> list[Path]:
    """Write opscord.toml and .env into `directory` (refusing to overwrite unless `force`)."""
    files = {directory / CONFIG_NAME: starter_config(), directory / ENV_NAME: starter_env()}
    existing = [path for path in files if path.exists()]
    if existing and not force:
        raise InitError(f"{', '.join(p.name for p in existing)} already exist(s) in {directory}; "
                        "pass --force to overwrite")
    for path, text in files.items():
        path.write_text(text, encoding="utf-8")
    return list(files)
