"""How much a bench run measures: the full run, ``--quick`` and the seconds-long ``--smoke``."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True)
class Plan:
    """Sizes and rounds of one run. Every figure is measured ``rounds`` times, A/B interleaved."""

    name: str
    rounds: int
    """Interleaved A/B rounds of the latency bursts."""
    bursts: tuple[int, ...]
    """Burst sizes; 1 means a sequence of ``sequential`` commands, one at a time."""
    sequential: int
    warmup: int
    """Commands of each workload sent to each bot before anything is measured."""
    start_rounds: int
    """Fresh process starts per side for start → synced → first answer (and RSS after start)."""
    rss_commands: int
    append_rows: int
    append_writers: int
    append_rounds: int
    store_rows: int
    """Rows in the database that verify and the filtered /audit recent are measured on."""
    verify_rounds: int
    query_rounds: int
    spawns: int
    spawn_rounds: int
    floor_bursts: tuple[int, ...] = (100, 1000, 3000)
    """Burst sizes the floor (the bare bot + one durable audit row per answer) is measured at."""
    failover_rounds: int = 1
    """Takeovers measured after kill -9 of the leader (two replicas on PostgreSQL)."""
    sigstop_rounds: int = 1
    """Takeovers measured after SIGSTOP of the leader (each waits for the lease to run out)."""

    @property
    def services(self) -> int:
        """One service per concurrent deploy of the largest burst."""
        return max(self.bursts)

    def with_rounds(self, rounds: int | None) -> Plan:
        """The same plan with ``rounds`` latency rounds (and at least as many start rounds)."""
        if rounds is None:
            return self
        return dataclasses.replace(self, rounds=rounds, start_rounds=max(self.start_rounds, rounds))


FULL = Plan(name="full", rounds=5, bursts=(1, 100, 1000, 3000), sequential=200, warmup=300, start_rounds=5,
            rss_commands=10_000, append_rows=20_000, append_writers=100, append_rounds=5, store_rows=1_000_000,
            verify_rounds=3, query_rounds=9, spawns=300, spawn_rounds=5, failover_rounds=7, sigstop_rounds=3)
QUICK = Plan(name="quick", rounds=1, bursts=(1, 100, 1000, 3000), sequential=20, warmup=30, start_rounds=2,
             rss_commands=10_000, append_rows=5_000, append_writers=100, append_rounds=2, store_rows=50_000,
             verify_rounds=2, query_rounds=5, spawns=100, spawn_rounds=2, failover_rounds=1, sigstop_rounds=1)
"""Every figure once (one A/B round of each burst size), in under two minutes: a check that the bench works
and a rough reading, not the numbers of record (those are the full run's, in BENCHMARKS.md)."""
SMOKE = Plan(name="smoke", rounds=1, bursts=(1, 10), sequential=3, warmup=4, start_rounds=1,
             rss_commands=20, append_rows=200, append_writers=10, append_rounds=1, store_rows=2_000,
             verify_rounds=1, query_rounds=1, spawns=5, spawn_rounds=1, floor_bursts=(10,))
PLANS = {plan.name: plan for plan in (FULL, QUICK, SMOKE)}
MILLION = 1_000_000
