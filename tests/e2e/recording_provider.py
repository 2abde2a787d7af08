#!/usr/bin/env python3
"""A deploy target for the crash test that records when each run starts and ends (and nothing else).

Usage: recording_provider.py ACTION SERVICE ENVIRONMENT [VALUE] [REQUEST_ID]
deploy/rollback/scale/migrate append a start and an end event to $RUNS (JSON lines, one write each)
and take 0.2-1.2 s in between; health exits 0; replicas prints 2.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time


def record(event: str, argv: list[str]) -> None:
    line = json.dumps({"event": event, "action": argv[0], "service": argv[1], "environment": argv[2],
                       "request_id": argv[-1], "pid": os.getpid(), "t": time.time()}) + "\n"
    fd = os.open(os.environ["RUNS"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def main(argv: list[str]) -> int:
    action = argv[0]
    if action == "health":
        print("healthy")
        return 0
    if action == "replicas":
        print(2)
        return 0
    record("start", argv)
    rng = random.Random(argv[-1])
    # most runs are short; one in five outlasts a restart even on a loaded machine, so a kill leaves orphans
    time.sleep(rng.uniform(4.0, 7.0) if rng.random() < 1 / 5 else rng.uniform(0.2, 1.2))
    record("end", argv)
    print(f"{action} done")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
