"""One `observer run FILE --json` as a whole process, timed: what the journey benchmarks share."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def run_json(
    cfg: Path,
    cwd: str | Path,
    *,
    tree: Path = ROOT,
    timeout: float = 180,
    ok: tuple[int, ...] = (0,),
) -> tuple[list[dict[str, Any]], float]:
    """The results of `observer run` (observer imported from `tree`) and its wall time in
    seconds; exits the benchmark with observer's stderr on an exit code not in `ok`."""
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "observer", "run", str(cfg), "--json"],
        env={**os.environ, "PYTHONPATH": str(tree)},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    wall = time.perf_counter() - t0
    if done.returncode not in ok:
        sys.exit(f"observer run exited {done.returncode}:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)["results"], wall
