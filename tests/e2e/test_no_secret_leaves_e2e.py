"""No secret reaches Discord, a log line, the audit log or its export: the ten adapters end to end.

tests/integrations/test_no_secret_leaves.py drives each adapter alone and checks what it returns,
raises and logs. Here the real bot drives them all as a team would — deploys through GitHub
Actions, Argo CD, Kubernetes, a webhook and a command provider whose scripts print their secret
(with `set -x` too), a scale through Kubernetes, /status through Prometheus, /logs through Loki,
an incident through PagerDuty and Statuspage, the deploy annotation through Grafana — against one
local upstream that echoes every credential it receives into its error bodies (and Loki's log
lines). Then every message the emulator holds (content, embeds, attachments, thread names,
scheduled events), every log record at DEBUG, every audit row, `/audit export` and the CLI's
`audit export` are searched for each secret in every form the adapters know.
"""

import contextlib
import io
import json
import logging

import pytest

from bot.__main__ import audit_export
from tests.e2e.harness import Harness
from tests.helpers import example_raw
from tests.integrations.test_no_secret_leaves import FORBIDDEN, LEAKY_SCRIPT, SECRETS, EchoUpstream, Seen

DEPLOYS = {"gh": {"provider": "github_actions", "repository": "acme/gh", "workflow": "deploy.yml",
                  "token_env": "GITHUB_TOKEN"},
           "argo": {"provider": "argocd", "token_env": "ARGOCD_TOKEN"},
           "kube": {"provider": "kubernetes", "token_env": "KUBE_TOKEN", "image": "registry.test/{service}:{version}"},
           "hook": {"provider": "webhook", "secret_env": "HOOK_SECRET"}}


class RecordAll(logging.Handler):
    """Every log record, formatted with its traceback, from every logger."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def script(tmp_path, name, body):
    path = tmp_path / name
    path.write_text(body)
    path.chmod(0o755)
    return str(path)


def echo_everything(seen: Seen):
    if seen.path.endswith("/loki/api/v1/query_range"):  # Loki answers, with the credentials in its lines
        return 200, {"status": "success", "data": {"resultType": "streams", "result": [
            {"stream": {"app": "x"}, "values": [["1700000000000000000", f"connected with {seen.echo}"]]}]}}
    return 401, {"message": f"bad credentials: {seen.echo}", "error": seen.echo}


@pytest.fixture
async def world(tmp_path, error_logs):
    records = RecordAll()
    root = logging.getLogger()
    root.addHandler(records)
    old_level = root.level
    root.setLevel(logging.DEBUG)
    async with EchoUpstream() as upstream, EchoUpstream() as receiver:
        upstream.reply = receiver.reply = echo_everything
        receiver.knows = [SECRETS["HOOK_SECRET"]]  # the webhook's receiver shares its secret, and echoes it too
        raw = example_raw(tmp_path / "state")
        observability = {
            "monitor": {"url": upstream.url, "token_env": "PROM_TOKEN"},
            "logs": {"url": upstream.url, "username": "reader", "password_env": "LOKI_PASSWORD"},
            "pager": {"events_url": upstream.url, "api_url": upstream.url, "api_token_env": "PD_TOKEN",
                      "routing_key_env": "PAGERDUTY_ROUTING_KEY"},
            "status_page": {"page_id": "pg1", "api_url": f"{upstream.url}/v1", "api_key_env": "STATUSPAGE_API_KEY"},
            "grafana": {"url": upstream.url, "dashboard_uid": "orders", "token_env": "GRAFANA_TOKEN"},
        }
        template = raw["services"][0]
        services = [{**template, "name": f"{name}-service", "deploy": {**deploy, **(
            {"api_url": upstream.url} if name in ("gh", "kube") else
            {"base_url": upstream.url} if name == "argo" else {"url": f"{receiver.url}/hook"} if name == "hook"
            else {})}, **observability} for name, deploy in DEPLOYS.items()]
        leaky = script(tmp_path, "deploy.sh", LEAKY_SCRIPT)
        fine = script(tmp_path, "ok.sh", '#!/bin/sh\necho "deployed with key $DEPLOY_API_KEY"\nset -x\n'
                                         ': "$DEPLOY_API_KEY"\n')
        for name, argv in (("cmd", leaky), ("cmd-ok", fine)):
            services.append({**template, "name": f"{name}-service", **observability, "deploy": {
                "provider": "command", "deploy": [argv], "health": [fine], "current_replicas": [fine],
                "pass_env": ["DEPLOY_API_KEY"], "show_output": True, "timeout_seconds": 10}})
        raw["services"] = services
        raw["policy"] = [{"action": "*", "environment": "*"}]  # everything runs at once
        environ = {**SECRETS, "PATH": "/usr/bin:/bin"}
        harness = Harness(tmp_path, raw, environ=environ)
        await harness.start()
        try:
            yield harness, (upstream, receiver), records
        finally:
            await harness.stop()
            root.removeHandler(records)
            root.setLevel(old_level)


async def answered(harness, user, command, options, channel="deployments"):
    channel_id = harness.channels[channel] if isinstance(channel, str) else channel
    h = await harness.emu.run_command(harness.guild_id, channel_id, harness.users[user], command, options)
    await h.wait_response(timeout=5)
    return await h.wait_message(timeout=20)


async def test_no_secret_in_discord_the_logs_the_audit_log_or_the_export(world, tmp_path):
    harness, (upstream, receiver), records = world
    emu = harness.emu
    for name in (*DEPLOYS, "cmd", "cmd-ok"):
        card = await answered(harness, "alice", "deploy", {"service": f"{name}-service", "version": "v1.0.0",
                                                           "environment": "staging"})
        await emu.wait_until(lambda c=card: any(word in emu.get_message(c.id).content
                                                for word in ("complete", "failed", "Failed")), timeout=30)
    await answered(harness, "alice", "scale", {"service": "kube-service", "replicas": 3, "environment": "staging"})
    for name in (*DEPLOYS, "cmd"):
        await answered(harness, "alice", "status", {"service": f"{name}-service"})
        await answered(harness, "alice", "logs", {"service": f"{name}-service", "last": "1h"})
    await answered(harness, "alice", "incident create", {"title": "Payments down", "severity": "sev1",
                                                         "service": "gh-service"}, channel="incidents")
    [thread] = emu.threads
    for command, options in (("incident update", {"text": "looking", "status": "identified"}),
                             ("incident timeline", {}), ("incident resolve", {"text": "fixed"})):
        await answered(harness, "alice", command, options, channel=thread.id)
    await answered(harness, "dave", "audit recent", {"limit": 25})
    await answered(harness, "dave", "audit export", {})
    await harness.settle()

    # (PagerDuty's REST token serves on-call lookups, which the bot does not make: its adapter test covers it)
    systems = ("GITHUB_TOKEN", "ARGOCD_TOKEN", "KUBE_TOKEN", "HOOK_SECRET", "LOKI_PASSWORD", "PROM_TOKEN",
               "PAGERDUTY_ROUTING_KEY", "STATUSPAGE_API_KEY", "GRAFANA_TOKEN")
    unechoed = [name for name in systems if not (upstream.echoed(SECRETS[name]) or receiver.echoed(SECRETS[name]))]
    assert unechoed == [], f"these adapters never sent their secret, so the test proves nothing for them: {unechoed}"
    failures = "\n".join(m.content for m in emu.messages(harness.channels["deployments"]))
    assert "bad credentials: Bearer ***" in failures, "the echoed credentials reached the messages, scrubbed"
    assert "error: the registry refused ***" in failures, "the script's last line, shown (show_output), scrubbed"

    texts: dict[str, str] = {}
    for message in emu.state.messages.values():
        texts[f"message {message.id}"] = json.dumps([message.content, message.embeds, message.components],
                                                    ensure_ascii=False)
    for key, data in emu.state.files.items():
        texts[f"attachment {key}"] = data.decode("utf-8", "replace")
    for channel in emu.state.channels.values():
        texts[f"channel {channel.id}"] = f"{channel.name} {channel.topic or ''}"
    for event in emu.state.scheduled_events.values():
        texts[f"event {event.id}"] = repr(event)
    texts["log records"] = "\n".join(records.lines)
    texts["audit rows"] = "\n".join(repr(row) for row in await harness.audit_rows())
    texts["/audit export"] = json.dumps(await harness.export(), ensure_ascii=False)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):  # `python -m bot audit export`, on this loop
        assert await audit_export(tmp_path / "opscord.db", None) == 0
    texts["python -m bot audit export"] = out.getvalue()
    assert any(name.startswith("attachment") for name in texts), "the export and the timeline were attached"
    assert any("connected with Basic ***" in text for text in texts.values()), "Loki's echoing lines were shown"
    assert len(records.lines) > 100 and any("rejected" in line for line in records.lines)
    for where, text in texts.items():
        for secret in FORBIDDEN:
            assert secret not in text, f"{secret[:6]}… leaked in {where}: {text[:300]!r}"
