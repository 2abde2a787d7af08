"""The scrubber: a secret embedded anywhere never survives, credential shapes go, ordinary text stays."""

from __future__ import annotations

import base64
import json
import string
import time
from datetime import UTC, datetime
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from integrations.base import HealthCheck, HealthReport, HealthStatus, LogLine, OperationResult
from integrations.errors import ProviderFailed, UpstreamRefused
from integrations.scrub import MIN_SECRET_LENGTH, REDACTED, Scrubber, scrub

secrets = st.text(min_size=MIN_SECRET_LENGTH, max_size=40)
URL_SAFE = string.ascii_letters + string.digits + "._~-"


@given(prefix=st.text(), secret=secrets, suffix=st.text())
@example(prefix="a", secret="a***", suffix="")  # a replacement that completes the secret again
@example(prefix="", secret="token=abcd", suffix="")
def test_a_secret_embedded_anywhere_never_survives(prefix, secret, suffix):
    assert secret not in scrub(prefix + secret + suffix, [secret])


@given(pieces=st.lists(st.text(max_size=20), min_size=1, max_size=6), known=st.lists(secrets, min_size=1, max_size=4),
       data=st.data())
def test_several_secrets_interleaved_with_text_never_survive(pieces, known, data):
    text = "".join(piece + data.draw(st.sampled_from(known)) for piece in pieces)
    cleaned = scrub(text, known)
    assert not any(secret in cleaned for secret in known)


@given(prefix=st.text(), secret=secrets, suffix=st.text())
def test_encoded_forms_of_a_secret_never_survive(prefix, secret, suffix):
    raw = secret.encode()
    forms = [quote(raw, safe=""), quote_plus(raw), base64.b64encode(raw).decode().rstrip("="),
             base64.urlsafe_b64encode(raw).decode().rstrip("="), json.dumps(secret)[1:-1]]
    cleaned = scrub(prefix + " ".join(forms) + suffix, [secret])
    assert not any(form in cleaned for form in forms)


def test_longer_secrets_go_first_and_short_values_are_ignored():
    assert scrub("key abcdefgh and abcd", ["abcd", "abcdefgh"]) == "key *** and ***"
    assert Scrubber(["abc", "", None]).forms == ()
    assert scrub("abc stays", ["abc"]) == "abc stays"


# Credential shapes, recognised without knowing the value (always between separators).
tokens = st.text(URL_SAFE, min_size=24, max_size=48)
alnum = st.text(string.ascii_letters + string.digits, min_size=36, max_size=40)


def _jwt(claims: dict[str, str]) -> str:
    def part(payload: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")
    return f"{part({'alg': 'RS256', 'kid': 'k1'})}.{part(claims)}.{part('signature-bytes')}"


shaped = st.one_of(
    alnum.map(lambda v: f"ghp_{v}"),
    alnum.map(lambda v: f"github_pat_{v}"),
    alnum.map(lambda v: f"glsa_{v}"),
    st.dictionaries(st.sampled_from(["sub", "iss", "aud"]), st.text(max_size=30), min_size=1).map(_jwt),
)


@given(prefix=st.text(), token=shaped, suffix=st.text())
def test_token_formats_never_survive(prefix, token, suffix):
    assert token not in scrub(f"{prefix} {token} {suffix}")


@given(token=tokens, scheme=st.sampled_from(["Bearer", "bearer", "Authorization: Bearer", "Authorization: token",
                                             "X-Api-Key:", "OAuth"]))
def test_credentials_after_a_scheme_or_header_never_survive(token, scheme):
    assume(scheme != "OAuth" or any(c.isdigit() for c in token))  # OAuth keys are recognised by a digit
    assert token not in scrub(f"401: bad credentials: {scheme} {token} (check it)")


@given(user=st.text(URL_SAFE, min_size=1, max_size=12), password=st.text(URL_SAFE, min_size=1, max_size=20))
def test_basic_credentials_and_url_userinfo_never_survive(user, password):
    pair = base64.b64encode(f"{user}:{password}".encode()).decode()
    cleaned = scrub(f"Authorization: Basic {pair}; Basic {pair}; https://{user}:{password}@db.example.test/x")
    assert pair not in cleaned and f"{user}:{password}@" not in cleaned


@given(name=st.sampled_from(["token", "access_token", "api_key", "apikey", "key", "password", "secret", "sig",
                             "X-Amz-Signature", "client_secret", "routing_key", "OPSCORD_API_TOKEN"]),
       value=st.text(URL_SAFE, min_size=1, max_size=30))
def test_secret_named_values_never_survive(name, value):
    cleaned = scrub(f'GET /q?{name}={value}&orgId=1 + export {name}="{value}" {{"{name}": "{value}"}}')
    assert f"{name}={value}" not in cleaned and f'{name}="{value}"' not in cleaned
    assert f'"{name}": "{value}"' not in cleaned
    assert "orgId=1" in cleaned


def test_pem_private_keys_go_whole():
    key = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\nabc\n-----END RSA PRIVATE KEY-----"
    assert scrub(f"loaded {key} ok") == f"loaded {REDACTED} ok"
    assert scrub("-----BEGIN PRIVATE KEY-----\nMIIE…") == REDACTED  # cut short: everything after it goes


# Ordinary operational text is left as it is.
services = st.from_regex(r"[a-z][a-z0-9]{1,12}(-[a-z0-9]{1,8}){0,2}", fullmatch=True).filter(
    lambda s: s not in {"bearer", "basic", "oauth"})
versions = st.from_regex(r"v?\d{1,2}\.\d{1,3}\.\d{1,3}(-rc\.\d)?", fullmatch=True)
environments = st.sampled_from(["development", "staging", "production", "eu-west-1"])
urls = st.builds(
    lambda host, svc, uid: f"https://{host}.example.com/d/{uid}/{svc}?orgId=1&from=now-1h&to=now&var-service={svc}",
    services, services, st.text(string.ascii_letters + string.digits, min_size=4, max_size=12))
words = st.sampled_from(["The", "deploy", "of", "to", "failed", "succeeded", "(exit", "1).", "Health", "check",
                         "passed.", "replicas", "available", "rollout", "image", "not", "found", "token",
                         "rejected", "the", "401:", "Bad", "credentials", "key", "is", "required", "#12",
                         "3/3", "p99", "180ms", "error", "rate", "0.4%", "request", "req-1234", "sha256:9f2c"])
ordinary = st.lists(st.one_of(services, versions, environments, urls, words, st.integers().map(str)),
                    max_size=25).map(" ".join)


@given(text=ordinary)
@example(text="GitHub rejected the token (401: Bad credentials)")
@example(text="Deploy complete. Health check passed. Dashboard: https://grafana.internal/d/order-service")
@example(text="Bearer tokens are required; Basic connectivity to https://argocd.example.com failed")
def test_ordinary_text_is_left_intact(text):
    assert scrub(text) == text


@given(text=ordinary, secret=secrets)
def test_secrets_absent_from_the_text_change_nothing(text, secret):
    assume(not any(form in text for form in Scrubber([secret]).forms))
    assert scrub(text, [secret]) == text


def test_pathological_input_is_scrubbed_in_linear_time():
    scrubber = Scrubber(["secret-value-1"])
    for text in ("a." * 40_000, "a-" * 40_000, "https://" * 10_000, "a_b=" * 20_000, '"key":"' * 10_000):
        started = time.perf_counter()
        scrubber.text(text)
        assert time.perf_counter() - started < 1.0


# Scrubbing what an adapter hands back.
def test_errors_are_scrubbed_in_place_with_what_they_chain_to():
    cause = ProviderFailed("x", "inner s3cr3t-value", output="out s3cr3t-value")
    error = UpstreamRefused("GitHub", "GitHub refused (401: s3cr3t-value)", status=401,
                            upstream_message="s3cr3t-value")
    error.__cause__ = cause
    assert Scrubber(["s3cr3t-value"]).error(error) is error
    assert (str(error), error.args, error.upstream_message) == ("GitHub refused (401: ***)",
                                                                ("GitHub refused (401: ***)",), "***")
    assert (cause.message, cause.output) == ("inner ***", "out ***")


def test_results_reports_and_log_lines_come_back_scrubbed():
    scrubber = Scrubber(["s3cr3t-value"])
    result = scrubber.clean(OperationResult(False, "failed: s3cr3t-value", url="https://u:p@h/x?token=abc",
                                            output="s3cr3t-value\n", details={"m": "s3cr3t-value", "n": 3}))
    assert (result.summary, result.url, result.output, result.details) == (
        "failed: ***", "https://***@h/x?token=***", "***\n", {"m": "***", "n": 3})
    report = scrubber.clean(HealthReport(HealthStatus.DOWN, "s3cr3t-value",
                                         [HealthCheck("c", "s3cr3t-value", None, HealthStatus.DOWN)]))
    assert report.summary == "***" and report.checks[0].value == "***"
    now = datetime.now(UTC)
    assert scrubber.clean([LogLine(now, {"app": "x"}, "login with s3cr3t-value")]) == [
        LogLine(now, {"app": "x"}, "login with ***")]
    assert scrubber.clean(7) == 7


@pytest.mark.parametrize("value", ["\udcff\udcfeab", "caf\u00e9-secret"])
def test_secrets_that_are_not_plain_ascii(value):
    assert value not in scrub(f"echo {value} done", [value])
