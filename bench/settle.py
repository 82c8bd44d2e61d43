"""Figures of a settled page: observer against Lighthouse on a page whose largest text and a
layout-shifting banner arrive 400 ms after its load event, and the wall time that waiting for
the last page to settle adds to the demo checkout.

    .venv/bin/python bench/settle.py [--rounds 5] [--checkout-runs 10]

Lighthouse 12 (installed from npm into bench/out/lighthouse on first use) runs with its
desktop preset and `--throttling-method=provided` in Debian's full Chromium; observer runs a
single-`goto` journey in the same 1350x940 window with its defaults (`settle: {quiet: 500ms,
max: 10s}`) and with `settle: off`, all interleaved. The checkout part times whole
`observer run` processes of the demo checkout, settle on and off, interleaved. The last lines
are the headlines (targets: within 50 ms of Lighthouse's LCP and 0.02 of its CLS).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _observer_run import run_json  # noqa: E402

from observer.demo.shop import ShopServer  # noqa: E402

LIGHTHOUSE = "lighthouse@12.8.2"
TOOLS = ROOT / "bench" / "out" / "lighthouse"

# Small text at once; 400 ms after the load event a banner pushes it down (a layout shift)
# and a much larger heading arrives, the page's real largest contentful paint.
LATE = b"""<!doctype html><html lang=en><title>late content</title>
<meta name=viewport content="width=device-width">
<body style="margin:0;font-family:sans-serif">
<p id=early>early words, set small</p>
<p>More words that the banner will push down the page when it arrives.</p>
<script>
addEventListener('load', () => setTimeout(() => {
  document.body.insertAdjacentHTML('afterbegin',
    '<div style="height:240px;background:#c33;color:#fff">A banner</div>' +
    '<h1 style="font-size:64px;margin:0">A heading far larger than the early words</h1>');
}, 400));
</script></body></html>"""

CHECKOUT = """
settings:
  database: bench.db
{extra}
probes:
  - name: checkout
    journey:
      - goto: {base}/login
      - fill: {{selector: "#email", value: demo@example.com}}
      - fill: {{selector: "#password", value: demo, secret: true}}
      - {{name: submit, click: "button[type=submit]"}}
      - expect_text: Welcome
      - goto: {base}/products/1
      - click: "text=Add to cart"
      - goto: {base}/cart
      - click: "text=Checkout"
      - fill: {{selector: "#address", value: "1 Main St"}}
      - click: "text=Place order"
      - expect_url: "**/orders/*"
      - expect_text: Thank you
"""


class Late(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(LATE)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(LATE)


def lighthouse_bin() -> Path:
    exe = TOOLS / "node_modules" / ".bin" / "lighthouse"
    if not exe.exists():
        TOOLS.mkdir(parents=True, exist_ok=True)
        print(f"installing {LIGHTHOUSE} into {TOOLS}", file=sys.stderr)
        subprocess.run(
            ["npm", "install", "--prefix", str(TOOLS), "--no-audit", "--no-fund", LIGHTHOUSE],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return exe


def lighthouse(url: str, out: Path) -> tuple[float, float]:
    chrome = shutil.which("chromium") or shutil.which("google-chrome")
    if chrome is None:
        sys.exit("Lighthouse needs a full Chromium: apt-get install chromium")
    flags = (
        "--headless=new --no-sandbox --disable-gpu --no-first-run "
        "--disable-background-networking --disable-component-update --disable-sync"
    )
    subprocess.run(
        [
            str(lighthouse_bin()),
            url,
            "--preset=desktop",
            "--throttling-method=provided",
            "--only-categories=performance",
            "--output=json",
            f"--output-path={out}",
            "--quiet",
            f"--chrome-flags={flags}",
        ],
        env={**os.environ, "CHROME_PATH": chrome},
        check=True,
        timeout=180,
    )
    audits = json.loads(out.read_text(encoding="utf-8"))["audits"]
    return (
        float(audits["largest-contentful-paint"]["numericValue"]),
        float(audits["cumulative-layout-shift"]["numericValue"]),
    )


def observer_run(cfg: Path, cwd: str) -> tuple[dict[str, float], float]:
    (result,), wall = run_json(cfg, cwd)
    return {**result["vitals"], "duration_ms": result["duration_ms"]}, wall


def single_goto(url: str, settle: str) -> str:
    extra = "  settle: 'off'" if settle == "off" else ""
    return (
        f"settings:\n  database: bench.db\n{extra}\n"
        # Lighthouse's desktop preset emulates a 1350x940 window: CLS depends on the window.
        "probes:\n  - name: late\n    viewport: {width: 1350, height: 940}\n"
        f"    journey:\n      - goto: {url}\n"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--checkout-runs", type=int, default=10)
    args = ap.parse_args()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Late)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/late"
    lab: dict[str, list[tuple[float, float]]] = {"lighthouse": [], "settle": [], "off": []}
    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        for settle in ("settle", "off"):
            files[settle] = Path(tmp) / f"late-{settle}.yaml"
            files[settle].write_text(single_goto(url, settle), encoding="utf-8")
        lighthouse(url, Path(tmp) / "warm.json")
        for r in range(args.rounds):
            lab["lighthouse"].append(lighthouse(url, Path(tmp) / f"lh-{r}.json"))
            for settle in ("settle", "off"):
                vitals, _ = observer_run(files[settle], tmp)
                lab[settle].append((vitals["lcp_ms"], vitals["cls"]))
            print(
                f"round {r + 1}: "
                + "  ".join(f"{k}: LCP {v[-1][0]:.0f} CLS {v[-1][1]:.3f}" for k, v in lab.items()),
                flush=True,
            )
    httpd.shutdown()

    walls: dict[str, list[float]] = {"settle": [], "off": []}
    durations: dict[str, list[float]] = {"settle": [], "off": []}
    with ShopServer() as shop, tempfile.TemporaryDirectory() as tmp:
        files = {}
        for settle, extra in (("settle", ""), ("off", "  settle: 'off'")):
            files[settle] = Path(tmp) / f"checkout-{settle}.yaml"
            files[settle].write_text(CHECKOUT.format(extra=extra, base=shop.url), "utf-8")
            observer_run(files[settle], tmp)  # warm
        for _ in range(args.checkout_runs):
            for settle in ("settle", "off"):
                vitals, wall = observer_run(files[settle], tmp)
                walls[settle].append(wall)
                durations[settle].append(vitals["duration_ms"])

    med = {
        k: (statistics.median(v[0] for v in runs), statistics.median(v[1] for v in runs))
        for k, runs in lab.items()
    }
    for name, (lcp, cls) in med.items():
        print(f"median {name:<10} LCP {lcp:6.1f} ms  CLS {cls:.3f}  ({args.rounds} runs)")
    for name in ("settle", "off"):
        print(
            f"checkout, settle {'on ' if name == 'settle' else 'off'}: wall "
            f"{statistics.median(walls[name]):.3f}s, journey duration "
            f"{statistics.median(durations[name]) / 1000:.3f}s (median of {args.checkout_runs})"
        )
    added = statistics.median(walls["settle"]) - statistics.median(walls["off"])
    print(f"settling the last page adds {added:+.3f}s of wall time to the demo checkout")
    print(
        f"settle off against Lighthouse: LCP {med['off'][0] - med['lighthouse'][0]:+.1f} ms, "
        f"CLS {med['off'][1] - med['lighthouse'][1]:+.3f}"
    )
    print(
        f"default (settled) against Lighthouse: LCP "
        f"{med['settle'][0] - med['lighthouse'][0]:+.1f} ms, "
        f"CLS {med['settle'][1] - med['lighthouse'][1]:+.3f}"
    )


if __name__ == "__main__":
    main()
