"""How long the fuzz suite runs: a small, derandomized budget in CI; more (and random) with OPSCORD_FUZZ_SCALE.

CI runs every fuzz test with a fixed number of examples drawn from a fixed seed (``derandomize``)
and no example database, so a run is reproducible and bounded (the whole suite in well under a
minute). Locally, ``OPSCORD_FUZZ_SCALE=50 .venv/bin/python -m pytest tests/fuzz`` multiplies every
budget by 50 and draws fresh random examples, keeping failures in hypothesis' database so the next
run replays them first.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

SCALE_ENV = "OPSCORD_FUZZ_SCALE"


def scale() -> float:
    """The multiplier from the environment (1 when unset or unreadable)."""
    try:
        value = float(os.environ.get(SCALE_ENV, "1"))
    except ValueError:
        return 1.0
    return value if value > 0 else 1.0


def fuzz_settings(examples: int) -> settings:
    """Settings for one fuzz test: ``examples`` examples in CI, ``examples × scale`` locally."""
    factor = scale()
    longer = factor != 1.0
    return settings(
        max_examples=max(1, round(examples * factor)),
        derandomize=not longer,
        database=settings.default.database if longer else None,
        deadline=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example,
                               HealthCheck.filter_too_much],
    )
