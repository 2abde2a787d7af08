"""The sandbox end to end: `python -m bot sandbox` in a subprocess, driven by a script or piped stdin."""

import json
import signal
import subprocess
import sys
import time

from tests.conftest import ROOT
from tests.sandbox.conftest import DEMO_SCRIPT


def test_demo_script_walks_through_the_product(sandbox):
    done = sandbox.run("--script", str(DEMO_SCRIPT))
    out = done.stdout
    assert done.returncode == 0, done.stderr
    assert done.stderr == "" and "error:" not in out
    assert "alice@#deployments> /deploy order-service v2.4.1 production" in out
    assert "🚀 Deploy order-service v2.4.1 to production · requested by @alice" in out
    assert "Requires approval from a team lead." in out
    assert "[✅ Approve] [❌ Reject]" in out
    assert "(only you can see this):\n  You cannot approve your own request." in out
    assert "You need the operator role for staging to deploy order-service." in out
    assert out.count("✅ Deploy complete") == 3
    assert ("❌ Deploy failed: The deploy of order-service v2.4.13 to staging failed (exit 1: image "
            "order-service:v2.4.13 not found in the registry).") in out
    assert "❌ Deploy failed: health check failed — api-gateway in staging is down: error rate 34%" in out
    assert "🚀 Deploy payment-service v3.0.0 to production · requested by @alice" in out
    assert "❌ Rejected by @bob." in out
    assert "🚨 SEV-2 Incident Created: Checkout errors for EU users" in out
    assert "On call: @payment-oncall · Service: payment-service" in out
    assert "✅ Scale complete" in out and "✅ Rollback complete" in out
    assert "✅ Audit chain intact:" in out
    calls = [json.loads(line)["argv"][:4] for line in (sandbox.tmp_path / "state" / "calls.jsonl").open()]
    assert ["deploy", "order-service", "production", "v2.4.1"] in calls
    assert ["rollback", "order-service", "staging", "v2.4.1"] in calls
    verify = sandbox.run("audit", "verify", "--db", str(sandbox.db), sandbox=False)
    assert verify.returncode == 0 and "chain intact" in verify.stdout


def test_a_console_error_stops_a_script_with_a_one_line_reason(sandbox):
    script = sandbox.script("# typo on line 3\nas bob\n/deplyo order-service v1.0.0 staging\n/audit verify\n")
    done = sandbox.run("--script", str(script))
    assert done.returncode == 1
    assert "bob@#deployments> /deplyo order-service v1.0.0 staging" in done.stdout
    assert "error: unknown command /deplyo" in done.stdout
    assert "Audit chain intact" not in done.stdout
    assert done.stderr.strip().splitlines()[-1].startswith(
        "opscord sandbox: stopped at script.txt line 3: unknown command /deplyo; the bot has /audit, /deploy")


def test_piped_stdin_runs_line_by_line_until_eof(sandbox):
    done = sandbox.run(stdin="as bob\nin #general\nas zed\nclick Approve\n/audit verify\n/audit recent limit:2\n")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "alice@#deployments> as bob\nbob@#deployments> in #general\nbob@#general> as zed\n" in out
    assert "error: no demo user 'zed'; users: alice, bob, carol, dave, erin" in out
    assert "bob@#general> click Approve\nerror: no message in #general has a button labelled 'Approve'" in out
    assert "bob@#general> /audit verify\nOpscord · #general · msg " in out
    assert "(only you can see this):\n  ✅ Audit chain intact: 0 rows." in out
    assert "│ **Recent audit rows**" in out
    assert done.stderr == ""


def test_without_a_token_python_m_bot_runs_the_sandbox(sandbox):
    env = sandbox.env(OPSCORD_CONFIG=str(sandbox.config))
    done = sandbox.run(stdin="quit\n", cwd=sandbox.tmp_path, env=env, sandbox=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == ("DISCORD_TOKEN is not set: running the local sandbox. "
                                           "Set it (see .env.example) to connect to Discord.")
    assert (sandbox.tmp_path / "sandbox.db").exists()


def test_unusable_script_or_config_is_one_line(sandbox):
    missing = sandbox.run("--script", str(sandbox.tmp_path / "nope.txt"))
    assert missing.returncode == 2 and missing.stderr.strip() == f"opscord sandbox: no script at {sandbox.tmp_path / 'nope.txt'}"
    sandbox.config.write_text("[guild]\nid = 0\n")
    bad = sandbox.run(stdin="quit\n")
    assert bad.returncode == 2
    assert len(bad.stderr.strip().splitlines()) == 1 and "is invalid" in bad.stderr


def test_ctrl_c_shuts_down_cleanly(sandbox):
    argv = [sys.executable, "-m", "bot", "sandbox", "--config", str(sandbox.config), "--db", str(sandbox.db)]
    process = subprocess.Popen(argv, cwd=ROOT, env=sandbox.env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 20
        while "Ctrl-D leaves" not in (line := process.stdout.readline()):
            assert line and time.monotonic() < deadline, "the sandbox did not start"
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert err == "" and "Traceback" not in out


def test_a_step_up_form_in_the_console(sandbox):
    text = sandbox.config.read_text()
    block = text[text.index("# [[policy]]"):text.index("# The seed's approval matrix")]
    sandbox.config.write_text(text.replace(block, "\n".join(line[2:] for line in block.strip().splitlines())
                                           + "\n\n"))
    done = sandbox.run(stdin="type payment-service\n/migrate payment-service production\ntype payments\n"
                             "/migrate payment-service production\ntype payment-service\n")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "error: no form is open; a command that needs one opens it" in out
    assert "📝 Confirm: migrate in production\n  Type the service name to confirm — To migrate the database of " \
           "payment-service in production, type payment-service.\n  (answer with: type TEXT)" in out
    assert "That is not the service name, so the migrate was not requested." in out
    assert "Requires approval from a team lead and a DBA (different people)." in out
    assert "team lead: waiting · DBA: waiting" in out
    assert "📋 Plan `" in out
