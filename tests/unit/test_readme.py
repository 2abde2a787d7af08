"""The README's TOML examples stay valid config (a guard against the docs drifting from the code)."""

import re
import tomllib

import pytest

from bot.config import parse_config
from tests.conftest import ROOT
from tests.helpers import example_raw

SECTIONS = [section.strip() for block in re.findall(r"```toml\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
            for section in re.split(r"\n(?=\[services\.)", "\n" + block) if section.strip()]


def test_the_readme_has_examples():
    assert len(SECTIONS) >= 10


@pytest.mark.parametrize("section", SECTIONS, ids=lambda s: s.splitlines()[0] + " " + s.splitlines()[1][:30])
def test_readme_section_is_valid(section, tmp_path):
    header, body = section.split("\n", 1)
    raw = example_raw(tmp_path)
    service_section = re.fullmatch(r"\[services\.(\w+)\]\s*(#.*)?", header)
    if service_section:
        raw["services"][0][service_section.group(1)] = tomllib.loads(body)
    else:  # a top-level table such as [fallback.users]
        for key, value in tomllib.loads(section).items():
            raw[key] = {**raw.get(key, {}), **value} if isinstance(value, dict) else value
    parse_config(raw)
