"""Imports run one way: cogs/ → bot/ → integrations/ (DESIGN.md)."""

import ast
import re
from pathlib import Path

import pytest

from tests.conftest import ROOT

FORBIDDEN = {"integrations": ("bot", "cogs"), "bot": ("cogs",)}


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_run_one_way(package):
    offenders = []
    for path in sorted((ROOT / package).rglob("*.py")):
        bad = imports(path) & set(FORBIDDEN[package])
        if bad:
            offenders.append(f"{path.relative_to(ROOT)} imports {', '.join(sorted(bad))}")
    assert offenders == []


DEV_TOOLS = ("bot.sandbox", "bot.bench")
"""The emulator, the upstream fakes, the console and the bench: dev tools, out of the runtime path."""


def module_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def is_dev_tool(module: str) -> bool:
    return any(module == tool or module.startswith(tool + ".") for tool in DEV_TOOLS)


def test_dev_tools_stay_out_of_the_runtime_path():
    """Only the dev tools themselves (the bench may use the sandbox's emulator), the entry point's
    `sandbox` and `bench` commands and tests reach bot.sandbox and bot.bench."""
    offenders = []
    for package in ("bot", "cogs", "integrations"):
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT)
            if rel.parts[:2] in {("bot", "sandbox"), ("bot", "bench")} or rel == Path("bot/__main__.py"):
                continue
            bad = {m for m in module_imports(path) if is_dev_tool(m)}
            if bad:
                offenders.append(f"{rel} imports {', '.join(sorted(bad))}")
    assert offenders == []


def test_entry_point_imports_dev_tools_only_inside_their_commands():
    """`python -m bot` with a token never imports the emulator or the bench: those imports are local."""
    tree = ast.parse((ROOT / "bot" / "__main__.py").read_text())
    top_level = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    modules = [n.module or "" for n in top_level if isinstance(n, ast.ImportFrom)]
    modules += [alias.name for n in top_level if isinstance(n, ast.Import) for alias in n.names]
    assert not [m for m in modules if is_dev_tool(m)]


SQL = re.compile(r"\b(SELECT\s.+\sFROM|INSERT\s+(OR\s+\w+\s+)?INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|CREATE\s+(TABLE|INDEX|TRIGGER)"
                 r"|DROP\s+(TABLE|TRIGGER)|BEGIN\s+IMMEDIATE|PRAGMA\s)", re.IGNORECASE | re.DOTALL)
DATABASE_MODULES = {"sqlite3", "aiosqlite", "asyncpg"}


def _strings(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)]


def test_no_sql_outside_the_store():
    """Only bot/store speaks SQL or imports a database driver (DESIGN.md: the store is the only SQL)."""
    offenders = []
    for package in ("bot", "cogs", "integrations"):
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT)
            if rel.parts[:2] in {("bot", "store"), ("bot", "bench")}:  # the bench measures raw sqlite3 beside it
                continue
            drivers = imports(path) & DATABASE_MODULES
            if drivers:
                offenders.append(f"{rel} imports {', '.join(sorted(drivers))}")
            for text in _strings(path):
                if SQL.search(text) and not text.lstrip().startswith(("The ", "A ", "An ")):
                    offenders.append(f"{rel} has SQL: {text[:60]!r}")
    assert offenders == []


@pytest.mark.parametrize("package", ["bot/pipeline", "bot/store"])
def test_the_core_knows_nothing_of_discord(package):
    offenders = [str(p.relative_to(ROOT)) for p in sorted((ROOT / package).rglob("*.py"))
                 if {"discord", "bot.client", "cogs"} & (imports(p) | {m.rsplit(".", 1)[0] for m in module_imports(p)})]
    assert offenders == []


def test_no_class_is_spread_over_files_by_inheritance():
    """Classes of bot/ derive from library or protocol types, not from one another across modules."""
    defined: dict[str, str] = {}
    bases: list[tuple[str, str, str]] = []
    for path in sorted((ROOT / "bot").rglob("*.py")):
        rel = str(path.relative_to(ROOT))
        if "/sandbox/" in rel:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                defined[node.name] = rel
                bases += [(node.name, rel, b.id) for b in node.bases if isinstance(b, ast.Name)]
    spread = [f"{name} ({where}) extends {base} ({defined[base]})" for name, where, base in bases
              if base in defined and defined[base] != where and not base.endswith(("Error", "Exception"))]
    assert spread == []


def test_the_bench_reaches_opscord_internals_only_through_its_adapter():
    """bot/bench/ drives Opscord as a process; only bot/bench/product.py may import the store, the audit
    log or the providers, so a rewritten store is re-pointed in one module."""
    allowed = {"bot.bench", "bot.sandbox"}
    offenders = []
    for path in sorted((ROOT / "bot" / "bench").rglob("*.py")):
        if path.name == "product.py":
            continue
        for module in module_imports(path):
            top = module.split(".")[0]
            inside = any(module == a or module.startswith(a + ".") for a in allowed)
            if top in ("bot", "cogs", "integrations") and not inside:
                offenders.append(f"{path.relative_to(ROOT)} imports {module}")
    assert offenders == []
