"""Start-up: wall time of `observer --help` and `observer validate probes.example.yaml`.

    .venv/bin/python bench/startup.py [--runs 15]

Each command runs as a whole process, alternating with the bare interpreter (`python -c pass`)
so the figures can be read against what Python itself costs on this machine. Last line: the
headline (target: each under 200 ms).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args()
    observer = str(Path(sys.executable).parent / "observer")
    cmds = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "observer --help": [observer, "--help"],
        "observer validate": [observer, "validate", "probes.example.yaml"],
    }
    for cmd in cmds.values():
        timed(cmd)  # warm the file cache
    times: dict[str, list[float]] = {k: [] for k in cmds}
    for _ in range(args.runs):
        for name, cmd in cmds.items():
            times[name].append(timed(cmd))
    med = {k: statistics.median(v) * 1000 for k, v in times.items()}
    for name, value in med.items():
        print(f"{name:18} median {value:6.0f} ms  (min {min(times[name]) * 1000:.0f} ms)")
    print(
        f"start-up: observer --help {med['observer --help']:.0f} ms, observer validate "
        f"{med['observer validate']:.0f} ms (python itself {med['python -c pass']:.0f} ms)"
    )


if __name__ == "__main__":
    main()
