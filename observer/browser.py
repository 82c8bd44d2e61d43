"""Finding and launching Chromium, and measuring inside the page."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import platform
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .results import ObserverError

if TYPE_CHECKING:
    from playwright.async_api import Browser, Playwright

    from .config.models import BrowserSettings

# Chromium phones home at start (component updates, sync, safe browsing lists); on a closed
# network those connections stall or fail, so a monitor must switch them off.
QUIET_FLAGS = [
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--no-first-run",
    "--no-default-browser-check",
    "--metrics-recording-only",
    "--disable-breakpad",
    "--disable-dev-shm-usage",
    "--password-store=basic",
    "--use-mock-keychain",
]

SYSTEM_NAMES = (
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
    "chrome",
)
# Chromium's headless-only build (what Playwright itself runs headless): it opens and closes a
# browser context for about a fifth of the CPU the full browser spends, which is most of what
# a monitor does. Preferred whenever the browser runs headless.
HEADLESS_SHELL_NAMES = ("chromium-headless-shell", "chrome-headless-shell")

MAC_APPS = (
    "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
    "/Applications/Chromium.app/Contents/MacOS/Chromium",
)


@dataclass(frozen=True)
class BrowserInfo:
    """Which Chromium observer will use, and why that one."""

    path: str
    source: str  # settings, OBSERVER_CHROMIUM, playwright, PATH


class BrowserNotFound(ObserverError):
    """No usable Chromium: the message says how to install one."""


def install_hint() -> str:
    """The command that installs a browser on this platform."""
    system = platform.system()
    if system == "Darwin":
        return f"{sys.executable} -m playwright install chromium"
    if system == "Linux" and Path("/etc/debian_version").exists():
        distro = ""
        with contextlib.suppress(OSError):
            distro = Path("/etc/os-release").read_text(encoding="utf-8")
        if "ID=ubuntu" in distro:
            # Ubuntu's chromium package is a snap stub that does not run in containers.
            return f"{sys.executable} -m playwright install --with-deps chromium"
        return (
            "sudo apt-get install -y chromium-headless-shell chromium   "
            "(or: python -m playwright install chromium)"
        )
    return f"{sys.executable} -m playwright install chromium"


def playwright_browser(headless: bool = True) -> str | None:
    """Playwright's own downloaded Chromium, if one is installed (found without starting it);
    its headless shell first when headless."""
    base = os.environ.get("PLAYWRIGHT_BROWSERS_PATH")
    roots: list[Path] = []
    if base and base != "0":
        roots.append(Path(base))
    home = Path.home()
    roots += [
        home / ".cache" / "ms-playwright",
        home / "Library" / "Caches" / "ms-playwright",
        home / "AppData" / "Local" / "ms-playwright",
    ]
    shell = (
        "chrome-headless-shell-linux64/chrome-headless-shell",
        "chrome-linux/headless_shell",
        "chrome-headless-shell-mac-arm64/chrome-headless-shell",
        "chrome-headless-shell-mac-x64/chrome-headless-shell",
        "chrome-mac/headless_shell",
        "chrome-headless-shell-win64/chrome-headless-shell.exe",
        "chrome-win/headless_shell.exe",
    )
    full = (
        "chrome-linux/chrome",
        "chrome-linux64/chrome",
        "chrome-mac/Chromium.app/Contents/MacOS/Chromium",
        "chrome-mac-arm64/Google Chrome for Testing.app/Contents/MacOS/Google Chrome for Testing",
        "chrome-mac-x64/Google Chrome for Testing.app/Contents/MacOS/Google Chrome for Testing",
        "chrome-win/chrome.exe",
        "chrome-win64/chrome.exe",
    )
    kinds = [("chromium_headless_shell-*", shell)] if headless else []
    kinds.append(("chromium-*", full))
    for pattern, rel in kinds:
        for root in roots:
            if not root.is_dir():
                continue
            for build in sorted(root.glob(pattern), reverse=True):
                for r in rel:
                    exe = build / r
                    if exe.is_file() and os.access(exe, os.X_OK):
                        return str(exe)
    return None


def find_chromium(settings: BrowserSettings | None = None, headless: bool = True) -> BrowserInfo:
    """settings.browser.executable, OBSERVER_CHROMIUM, Playwright's browser, then PATH; a
    headless shell before the full browser when headless."""
    explicit = [
        (settings.executable if settings else None, "settings.browser.executable"),
        (os.environ.get("OBSERVER_CHROMIUM") or None, "OBSERVER_CHROMIUM"),
    ]
    for value, source in explicit:
        if value:
            exe = shutil.which(value) or value
            if not (Path(exe).is_file() and os.access(exe, os.X_OK)):
                raise BrowserNotFound(
                    f"{source} points to '{value}', which is not an executable; "
                    f"fix it, or install a browser with: {install_hint()}"
                )
            return BrowserInfo(str(exe), source)
    pw = playwright_browser(headless)
    if pw:
        return BrowserInfo(pw, "playwright")
    for name in (HEADLESS_SHELL_NAMES if headless else ()) + SYSTEM_NAMES:
        found = shutil.which(name)
        if found:
            return BrowserInfo(_unwrap(found) if name in HEADLESS_SHELL_NAMES else found, "PATH")
    if platform.system() == "Darwin":
        for app in MAC_APPS:
            if Path(app).is_file():
                return BrowserInfo(app, "applications")
    raise BrowserNotFound(f"no Chromium or Chrome found; install one with: {install_hint()}")


def _unwrap(path: str) -> str:
    """The binary a launcher script runs. Debian's chromium-headless-shell is a shell script
    that starts the real one without exec: killing "the browser" would kill only the shell."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError:
        return path
    if not head.startswith(b"#!"):
        return path
    name = Path(path).name
    for token in re.findall(rb"/[\w./+-]+", head):
        candidate: str = bytes(token).decode(errors="replace")
        if Path(candidate).name == name and candidate != path and os.access(candidate, os.X_OK):
            return candidate
    return path


def browser_version(path: str) -> str | None:
    """What the binary says its version is (None if it will not say)."""
    try:
        out = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


TAG_FLAG = "--observer-browser"


def tagged_processes(tag: str) -> list[int]:
    """PIDs of the Chromium processes launched with this tag (Linux /proc; empty elsewhere)."""
    pids = []
    needle = f"{TAG_FLAG}={tag}".encode()
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if needle in (entry / "cmdline").read_bytes():
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def launch_args(settings: BrowserSettings | None) -> list[str]:
    """Flags for a headless monitor in a container on a closed network."""
    args = list(QUIET_FLAGS)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--no-sandbox")  # Chromium refuses to start its sandbox as root
    if settings:
        args += settings.args
    return args


async def launch(
    pw: Playwright, settings: BrowserSettings | None, headed: bool = False, tag: str | None = None
) -> Browser:
    """Start Chromium; failure is observer's error, never the site's.

    `tag` goes on the command line (Chromium ignores the flag) so the process can be found
    and killed when it stops answering.
    """
    from playwright.async_api import Error as PlaywrightError

    headless = (settings.headless if settings else True) and not headed
    info = find_chromium(settings, headless)
    args = launch_args(settings) + ([f"{TAG_FLAG}={tag}"] if tag else [])
    try:
        return await pw.chromium.launch(
            executable_path=info.path,
            headless=headless,
            args=args,
            timeout=60_000,
        )
    except PlaywrightError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
        raise ObserverError(f"could not start {info.path} ({info.source}): {first}") from exc


@functools.cache
def known_devices() -> frozenset[str]:
    """Playwright's device names, read from its driver without starting it (empty if unknown)."""
    try:
        import playwright

        root = Path(playwright.__file__).parent / "driver" / "package" / "lib"
        names: set[str] = set()
        for bundle in root.glob("*.js"):
            text = bundle.read_text(encoding="utf-8", errors="replace")
            if '"iPhone 13"' not in text:
                continue
            names.update(re.findall(r'^\s+"([^"\n]+)": \{\s*\n\s+userAgent:', text, re.M))
        return frozenset(names)
    except OSError:
        return frozenset()


def lab_script(nonce: str = "") -> str:
    """The init script that measures web vitals in every page with Google's web-vitals.

    When a page is left it reports its final figures as a console.debug message that starts
    with `nonce` (see `read_report`), so the journey need not ask after every step.
    """
    return _lab_with_library().replace("/*NONCE*/", json.dumps(nonce))


@functools.cache
def _lab_with_library() -> str:
    """The init script with web-vitals in it, read once per process. Only this part is cached:
    the nonce is new for every journey, and caching per nonce would grow without end."""
    try:
        vendor = resources.files("observer.web").joinpath("static/vendor/web-vitals.iife.js")
        library = vendor.read_text(encoding="utf-8")
    except (FileNotFoundError, OSError) as exc:
        raise ObserverError(
            "the web-vitals bundle is missing from observer/web/static/vendor; "
            "run `bash .ci/setup` (or reinstall observer)"
        ) from exc
    return _LAB_TEMPLATE.replace("/*WEB_VITALS*/", library)


# Runs before any script of the page, in every frame's main world. The library is wrapped in
# a function so its `webVitals` global never clashes with the site's own copy.
_LAB_TEMPLATE = """
(() => {
  if (window !== window.top || window.__observerLab) return;
  // observer's own visit: real-user snippets tag their beacons synthetic and keep them apart.
  Object.defineProperty(window, '__observerSynthetic', {value: true});
  /*WEB_VITALS*/
  const v = {fcp: null, lcp: null, cls: null, inp: null};
  const all = {reportAllChanges: true};
  try {
    webVitals.onFCP(m => { v.fcp = m.value; }, all);
    webVitals.onLCP(m => { v.lcp = m.value; }, all);
    webVitals.onCLS(m => { v.cls = m.value; }, all);
    webVitals.onINP(m => { v.inp = m.value; }, {reportAllChanges: true, durationThreshold: 16});
  } catch (e) { /* a page that broke the platform APIs still gets navigation timing */ }
  // web-vitals reports from observer callbacks, and INP from an idle callback up to a second
  // later; a journey may leave the page before either runs. Until they do, the raw entries
  // stand in: the first contentful paint, the latest LCP candidate, the longest interaction.
  let longest = null, lcpEntry = null;
  try {
    new PerformanceObserver(list => {
      for (const e of list.getEntries()) {
        if (e.interactionId && (longest === null || e.duration > longest)) longest = e.duration;
      }
    }).observe({type: 'event', buffered: true, durationThreshold: 16});
    new PerformanceObserver(list => {
      const all = list.getEntries();
      if (all.length) lcpEntry = all[all.length - 1].startTime;
    }).observe({type: 'largest-contentful-paint', buffered: true});
  } catch (e) { /* an old engine: what web-vitals reports is all there is */ }
  const firstPaint = () => {
    const e = performance.getEntriesByName('first-contentful-paint')[0];
    return e ? e.startTime : null;
  };
  const snapshot = () => {
    const nav = performance.getEntriesByType('navigation')[0];
    const pos = x => (x && x > 0 ? x : null);
    return {
      url: location.href, origin: performance.timeOrigin,
      ttfb: nav ? pos(nav.responseStart) : null,
      dcl: nav ? pos(nav.domContentLoadedEventEnd) : null,
      load: nav ? pos(nav.loadEventEnd) : null,
      fcp: v.fcp !== null ? v.fcp : firstPaint(),
      lcp: v.lcp !== null ? v.lcp : lcpEntry,
      cls: v.cls === null && nav && nav.loadEventEnd > 0 ? 0 : v.cls,
      inp: v.inp !== null ? v.inp : longest,
    };
  };
  Object.defineProperty(window, '__observerLab', {value: snapshot});
  // Leaving the page (a navigation, a reload, a form sent): report its final figures.
  // beforeunload, not pagehide: by pagehide the next document has replaced this one and its
  // console messages are dropped. console.debug is taken now, before the page's own scripts
  // could replace it; the nonce is the journey's own, kept in this closure, so a page cannot
  // pass off figures of its own as ours. The listener never cancels the navigation.
  const nonce = /*NONCE*/;
  const report = console.debug.bind(console);
  if (nonce) addEventListener('beforeunload', () => {
    try { report(nonce + JSON.stringify(snapshot())); } catch (e) { /* nothing to report */ }
  }, true);
})();
"""


def snapshot_js() -> str:
    """Expression that reads the current document's lab metrics.

    It first lets two frames pass (at most 250 ms): the browser reports an interaction's timing
    only after the next frame is presented, and a journey may end right after a click.
    """
    return _SNAPSHOT_JS


_SNAPSHOT_JS = """async () => {
  if (!window.__observerLab) return null;
  await Promise.race([
    new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(r, 0)))),
    new Promise(r => setTimeout(r, 250)),
  ]);
  return window.__observerLab();
}"""


def read_report(text: str, nonce: str) -> dict[str, Any] | None:
    """The figures in a page's leaving report (a console message), or None if it is not one."""
    if not nonce or not text.startswith(nonce) or len(text) > 20_000:
        return None
    try:
        raw = json.loads(text[len(nonce) :])
    except ValueError:
        return None
    return parse_snapshot(raw)


def parse_snapshot(raw: Any) -> dict[str, Any] | None:
    """Validate what the page returned; a hostile page may return anything."""
    if not isinstance(raw, dict) or not isinstance(raw.get("url"), str):
        return None
    out: dict[str, Any] = {"url": raw["url"][:2000], "origin": raw.get("origin")}
    for key in ("ttfb", "dcl", "load", "fcp", "lcp", "cls", "inp"):
        val = raw.get(key)
        if isinstance(val, int | float) and not isinstance(val, bool) and 0 <= val < 3_600_000:
            out[key] = float(val)
        else:
            out[key] = None
    return out
