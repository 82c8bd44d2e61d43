"""No slot runs twice: two runners at one location share ten probes (every second) for ten
minutes on one PostgreSQL, and every slot is counted.

    .venv/bin/python bench/slots.py [--minutes 10] [--probes 10]

Each run a runner records is one slot it claimed: the runs of a probe are compared with its
claimed slots, slot numbers with the grid they should fill (gaps are slots no runner ran), and
each runner's share is shown. Last line: the headline.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "tests"))

from ingest import free_port, wait_up  # noqa: E402
from pages import Page, PageServer  # noqa: E402
from pg import Cluster  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--probes", type=int, default=10)
    args = ap.parse_args()
    import psycopg

    cluster = Cluster()
    try:
        cluster.start()
        url = cluster.create_database("slots")
        with tempfile.TemporaryDirectory() as tmp, PageServer({"/": Page("ok")}) as site:
            cfg = Path(tmp) / "probes.yaml"
            cfg.write_text(
                "probes:\n"
                + "".join(
                    f"  - {{name: p{i}, http: '{site.url}/', every: 1s}}\n"
                    for i in range(args.probes)
                )
            )
            procs = []
            for name in ("a", "b"):
                port = free_port()
                with (Path(tmp) / f"{name}.log").open("wb") as log:
                    proc = subprocess.Popen(
                        [sys.executable, "-m", "observer", "serve", str(cfg), "--db", url,
                         "--role", "runner", "--location", "eu-west", "--port", str(port),
                         "--log-level", "warning"],
                        stdout=subprocess.DEVNULL, stderr=log, cwd=tmp,
                    )  # fmt: skip
                wait_up(port, proc)
                procs.append(proc)
            time.sleep(args.minutes * 60)  # the measured stretch itself
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
            for proc in procs:
                proc.wait(timeout=60)
        with psycopg.connect(url) as conn:
            twice = conn.execute(
                "select count(*) from (select probe, location, slot from slots "
                "group by 1, 2, 3 having count(*) > 1) as d"
            ).fetchone()[0]
            per = conn.execute(
                "select s.probe, count(*), max(s.slot) - min(s.slot) + 1, "
                "(select count(*) from runs r where r.probe = s.probe) "
                "from slots s group by s.probe order by s.probe"
            ).fetchall()
            shares = conn.execute(
                "select runner, count(*) from slots group by runner order by runner"
            ).fetchall()
    finally:
        cluster.close()
    claimed = sum(n for _, n, _, _ in per)
    grid = sum(g for _, _, g, _ in per)
    runs = sum(r for _, _, _, r in per)
    for probe, n, g, r in per:
        print(f"{probe}: {n} slots claimed of {g} on the grid, {r} runs")
    for runner, n in shares:
        print(f"runner {runner}: {n} slots")
    print(
        f"slots: {args.minutes:g} min, {args.probes} probes every second, two runners: "
        f"{claimed} slots claimed, {twice} claimed twice, {runs} runs "
        f"({claimed - runs} claimed and not recorded), {grid - claimed} slots of the grid missed"
    )


if __name__ == "__main__":
    main()
