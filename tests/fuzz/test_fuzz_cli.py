"""Every `python -m bot` sub-command and option with fuzzed values: in-process at parse level and beyond, and a
few real subprocesses (undecodable bytes in argv, the overflowing date, a file that is no database).

In-process, each command line runs through `bot.__main__.main`; it must end with an exit code
(0-3) or a one-line SystemExit, print no traceback, say why when it fails, and never take the
last-resort path that reports an unexpected exception. `sandbox` and `bench` are parsed only (they
would start a sandbox or a benchmark); everything else runs: check-config on fuzzed TOML, audit
verify/export/dora on a real log, a file that is no database and a refused PostgreSQL, policy
explain, the CLI fallback (`run-op`, `approve`) as this OS account, init, store migrate. The audit
log the fuzzed commands wrote verifies at the end.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import pwd
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.__main__ import UNEXPECTED, _parser, main
from tests.conftest import EXAMPLE_CONFIG, ROOT
from tests.fuzz.budget import fuzz_settings
from tests.fuzz.strategies import DATES, VERSIONS, Vocabulary, hostile_text, iso_moments
from tests.helpers import write_example_config

ME = pwd.getpwuid(os.getuid()).pw_name
FALLBACK = {"users = {}": f'users = {{ {json.dumps(ME)} = {{ member_id = 11, roles = ["ops"], name = "alice" }} }}'}
REFUSED_POSTGRES = "postgresql://opscord:hunter2-secret@127.0.0.1:1/opscord"  # nothing listens on port 1
ACTIONS = ("deploy", "rollback", "scale", "migrate", "scale_up", "scale_down", "*")
PARSE_ONLY = ("sandbox", "bench")
VOCAB = Vocabulary(("order-service", "payment-service", "api-gateway"), ("development", "staging", "production"),
                   target_user=1, target_role=2)


class Files:
    """A config, a real audit log, a file that is no database, and room for fuzzed files."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.config = write_example_config(root / "opscord.toml", root / "state", replace=FALLBACK)
        self.db = root / "opscord.db"
        self.garbage = root / "garbage.db"
        self.garbage.write_text("this is not a database\n")
        self.fuzzed = root / "fuzzed.toml"
        self.workdir = root / "work"
        self.workdir.mkdir()

    def __repr__(self) -> str:
        return "Files(...)"


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Files]:
    made = Files(tmp_path_factory.mktemp("fuzz-cli"))
    saved = {k: os.environ.get(k) for k in ("OPSCORD_CONFIG", "OPSCORD_DB", "DISCORD_TOKEN", "LOG_LEVEL",
                                            "OPSCORD_DATABASE_URL")}
    os.environ.update(OPSCORD_CONFIG=str(made.config), OPSCORD_DB=str(made.db))
    for key in ("DISCORD_TOKEN", "LOG_LEVEL", "OPSCORD_DATABASE_URL"):
        os.environ.pop(key, None)
    try:
        code, _, err = run_main(["run-op", "deploy", "order-service", "v1.0.0", "staging"])  # a log to read
        assert code == 0, err
        yield made
        code, out, err = run_main(["audit", "verify", "--db", str(made.db)])
        assert code == 0 and "chain intact" in out, (out, err)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run_main(argv: list[str]) -> tuple[int, str, str]:
    """`python -m bot ARGV` in this process: (exit code, stdout, stderr), a SystemExit's message on stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code: int = main(argv)
        except SystemExit as exc:
            if isinstance(exc.code, str):
                err.write(exc.code + "\n")
                code = 1
            else:
                code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


def values(files: Files) -> st.SearchStrategy[str]:
    """An argument's value: a real path, a bad one, a date, a number, a version, or anything hostile."""
    paths = [str(files.config), str(files.db), str(files.garbage), str(files.root), str(files.root / "missing"),
             str(EXAMPLE_CONFIG), "/dev/null", "", "-", "--", REFUSED_POSTGRES, "postgresql://", "sqlite:"]
    return st.one_of(st.sampled_from(paths), st.sampled_from([*DATES, *VERSIONS, "0", "-1", "3651", "2**64",
                                                               "99999999999999999999", *VOCAB.services,
                                                               *VOCAB.environments, *ACTIONS]),
                     iso_moments(), hostile_text(VOCAB, max_size=200))


@st.composite
def command_lines(draw: st.DrawFn, files: Files) -> list[str]:
    """A sub-command with a fuzzed mix of its own options, other options and values."""
    value = values(files)
    table: dict[str, list[str]] = {
        "init": ["--force"],
        "check-config": [],
        "audit verify": ["--db", "--expect"],
        "audit export": ["--db", "--since"],
        "audit dora": ["--db", "--days", "--config"],
        "policy explain": ["--service", "--config"],
        "run-op": [],
        "approve": ["--reject"],
        "store migrate": ["--from", "--to"],
        "sandbox": ["--script", "--demo", "--config", "--db"],
        "bench": ["--quick", "--smoke", "--json", "--rounds"],
    }
    head = draw(st.sampled_from(sorted(table)))
    argv = head.split()
    words = st.one_of(value, st.sampled_from([*table[head], "--help", "--version", "-x", "--db=" + str(files.db)]))
    if head == "run-op":
        argv.append(draw(st.sampled_from(["deploy", "rollback", "scale", "migrate", "restart"])))
    if head == "policy explain":
        argv += [draw(st.one_of(st.sampled_from(ACTIONS), value)), draw(st.one_of(st.sampled_from(VOCAB.environments),
                                                                                  value))]
    if head == "check-config":
        files.fuzzed.write_text(draw(toml_texts()), encoding="utf-8", errors="surrogatepass")
        argv.append(str(files.fuzzed))
    if head == "audit export" and draw(st.booleans()):
        argv += ["--since", draw(st.one_of(iso_moments(), value))]
    for option in draw(st.lists(st.sampled_from(table[head]), max_size=3)) if table[head] else []:
        argv.append(option)
        if option not in ("--force", "--reject", "--demo", "--quick", "--smoke") or draw(st.booleans()):
            argv.append(draw(value))
    argv += draw(st.lists(words, max_size=4))
    return [as_in_argv(word) for word in argv]


def as_in_argv(word: str) -> str:
    """A word as a real process receives it: bytes, decoded by the filesystem encoding (undecodable bytes become
    surrogate escapes, never a lone "\ud800"), and no NUL (argv strings end there)."""
    return os.fsdecode(word.replace("\x00", "").encode("utf-8", "surrogatepass"))


def toml_texts() -> st.SearchStrategy[str]:
    """The example config with one value, key or line replaced; or anything at all."""
    lines = EXAMPLE_CONFIG.read_text().splitlines()

    def mutated(index: int, text: str, how: str) -> str:
        line = lines[index % len(lines)]
        if how == "value" and "=" in line:
            key = line.split("=", 1)[0]
            line = f"{key}= {json.dumps(text, ensure_ascii=False)}"
        elif how == "raw value" and "=" in line:
            line = f"{line.split('=', 1)[0]}= {text}"
        else:
            line = text
        return "\n".join([*lines[: index % len(lines)], line, *lines[index % len(lines) + 1:]])

    hostile = st.one_of(hostile_text(VOCAB, max_size=100), st.sampled_from(["-1", "1e400", "99999999999999999999",
                                                                            "[]", "{}", "true", "'", '"', "[[x]]"]))
    return st.one_of(st.builds(mutated, st.integers(0, len(lines)), hostile,
                               st.sampled_from(["value", "raw value", "line"])),
                     hostile_text(VOCAB, max_size=400))


@fuzz_settings(150)
@given(data=st.data())
def test_every_command_line_ends_in_an_exit_code_and_a_sentence(files: Files, data: st.DataObject) -> None:
    argv = data.draw(command_lines(files), label="argv")
    if argv[0] in PARSE_ONLY:
        code, out, err = parse_only(argv)
    else:
        cwd = os.getcwd()
        os.chdir(files.workdir)  # init writes here
        try:
            code, out, err = run_main(argv)
        finally:
            os.chdir(cwd)
    assert code in (0, 1, 2, 3), (code, out, err)
    assert "Traceback" not in out + err
    assert UNEXPECTED not in err, err
    if as_database(argv) and not err.startswith("usage:"):  # a database URL's password never shows (argparse
        # and refusals may echo what was typed for another argument)
        assert "hunter2-secret" not in out + err
    if code != 0:  # the fallback prints the pipeline's answer (a refusal too) on stdout, the rest on stderr
        assert (err or out).strip(), f"exit {code} without a reason"


def as_database(argv: list[str]) -> bool:
    """Whether the URL with a password was given as a database (--db, --to, --from), and only as one."""
    given = [before for before, word in zip(["", *argv], argv, strict=False) if REFUSED_POSTGRES in word]
    return bool(given) and all(before in ("--db", "--to", "--from") for before in given)


def parse_only(argv: list[str]) -> tuple[int, str, str]:
    """Parse a command that would start a sandbox or a benchmark: an exit from argparse, or the parsed args."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            _parser().parse_args(argv)
        except SystemExit as exc:
            return int(exc.code or 0), out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


# --- real processes: what only a real process shows (argv bytes that are no UTF-8, stdout's encoding) ---------

def cli(files: Files, *argv: str | bytes) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if k not in ("LOG_LEVEL", "DISCORD_TOKEN", "PYTHONIOENCODING")}
    # a UTF-8 locale's strict stdout (C.UTF-8 would escape what cannot be encoded by itself)
    env.update(OPSCORD_CONFIG=str(files.config), OPSCORD_DB=str(files.db), PYTHONIOENCODING="utf-8")
    return subprocess.run([sys.executable, "-m", "bot", *argv], capture_output=True, cwd=ROOT, env=env,
                          timeout=60, check=False)


@pytest.mark.parametrize("argv", [
    ("audit", "export", "--since", "9999-12-31T23:59:59-23:59"),   # once an OverflowError with a traceback
    ("audit", "export", "--since", b"\xff\xfe2026"),               # bytes that are no UTF-8
    ("check-config", b"/tmp/\xff.toml"),
    ("policy", "explain", b"deploy\xff", "production"),
    ("run-op", "deploy", "order-service", b"v1.0.\xff", "staging"),  # the refusal echoes it on stdout
    ("run-op", "deploy", b"\xed\xa0\x80", "v1.0.0", "staging"),     # an encoded lone surrogate
    ("approve", b"op-\xff"),
    ("audit", "verify", "--db", "GARBAGE"),
    ("store", "migrate", "--to", REFUSED_POSTGRES),
])
def test_real_processes_say_why_in_one_line(files: Files, argv: tuple[str | bytes, ...]) -> None:
    argv = tuple(str(files.garbage) if a == "GARBAGE" else a for a in argv)
    done = cli(files, *argv)
    err = done.stderr.decode("utf-8", "replace")
    out = done.stdout.decode("utf-8", "replace")
    assert done.returncode in (1, 2), (done.returncode, out, err)
    assert "Traceback" not in err + out
    said = (err or out).strip()  # the fallback answers on stdout, the rest on stderr
    assert said and len(said.splitlines()) <= 2, (out, err)
    assert UNEXPECTED not in err, err
    assert "hunter2-secret" not in err + out


@pytest.mark.parametrize(("argv", "said"), [
    (["audit", "verify", "--db", "GARBAGE"], "cannot check: the database could not be opened (file is not a database)"),
    (["audit", "export", "--db", REFUSED_POSTGRES], "cannot open the database postgresql://***@127.0.0.1:1/opscord: "
                                                   "ConnectionRefusedError"),
    (["store", "migrate", "--from", "sqlite:DB", "--to", REFUSED_POSTGRES], "cannot copy sqlite:DB to "
                                                                           "postgresql://***@127.0.0.1:1/opscord"),
    (["check-config", "LATIN1"], "is not UTF-8 text (byte 14); save it as UTF-8"),
    (["audit", "dora", "--db", "x" * 5000], "no database at xxx"),             # once OSError: File name too long
    (["sandbox", "--script", "x" * 5000], "opscord sandbox: no script at xxx"),
    (["approve", "op-\udcff"], "No request 'op-\\udcff'."),                     # once UnicodeEncodeError in the store
    (["audit", "export", "--since", "9999-12-31T23:59:59-23:59"], "is not an ISO date or timestamp"),
])
def test_what_the_fuzz_found_is_said_in_one_line(files: Files, argv: list[str], said: str) -> None:
    latin1 = files.root / "latin1.toml"
    latin1.write_bytes('[guild]\nn="caf\xe9"\n'.encode("latin-1"))
    names = {"GARBAGE": str(files.garbage), "LATIN1": str(latin1), "sqlite:DB": f"sqlite:{files.db}"}
    argv = [names.get(word, word) for word in argv]
    said = said.replace("GARBAGE", str(files.garbage)).replace("sqlite:DB", f"sqlite:{files.db}")
    code, out, err = run_main(argv)
    assert code in (1, 2) and said in out + err, (code, out, err)
    assert "Traceback" not in out + err and UNEXPECTED not in err
    assert "hunter2-secret" not in out + err
