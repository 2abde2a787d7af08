"""Integration adapters: the typed interfaces the bot's operation pipeline calls, and their
implementations over one shared aiohttp session.

- ``base``: data classes and protocols (Deployer, Scaler, Migrator, HealthChecker, LogSource,
  Monitor, Pager, StatusPage).
- ``errors``: domain exceptions carrying a user-facing sentence.
- ``http`` / ``circuit`` / ``timing``: resilient HTTP calls (timeouts, retries, circuit breakers).
- ``scrub``: the one scrubber every sentence, result, health summary and log line passes through
  before it leaves an adapter (known secret values and credential shapes become ``***``).
- Providers: ``command``, ``webhook``, ``github_actions``, ``argocd``, ``kubernetes``;
  ``settings`` validates their config and ``build_deployer`` builds one.

Nothing here imports ``bot`` or ``cogs``. The local fakes of these upstreams (for tests and the
sandbox) live in ``bot/sandbox/fakes``.
"""
