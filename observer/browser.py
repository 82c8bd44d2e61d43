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
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .assets import read_asset
from .results import ObserverError

if TYPE_CHECKING:
    from playwright.async_api import Browser, Playwright

    from .config import Problem, Project
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


def device_problems(project: Project) -> list[Problem]:
    """A config problem per probe whose `device:` Playwright does not know (none: all known)."""
    from .conditions import conditions_of

    settings = project.config.settings
    if not any(c.device for p in project.probes for c in conditions_of(p, settings)):
        return []  # reading Playwright's device list costs a 3 MB file read
    devices = known_devices()
    if not devices:
        return []
    from .config import Problem
    from .config.errors import format_path
    from .hints import did_you_mean

    bad: list[Problem] = []
    for probe in project.probes:
        for key, name in _devices_at(probe):
            if project.has_unset(probe.name, *key):
                continue  # not known yet; a command that runs the probe needs the variable
            if name not in devices:
                hint = did_you_mean(name, sorted(devices))
                path = format_path((*project.origins[probe.name][1], *key))
                where = project.mark_of(probe.name, *key)
                bad.append(Problem(where, path, f"Playwright has no device '{name}'{hint}"))
    return bad


def _devices_at(probe: Any) -> list[tuple[tuple[str | int, ...], str]]:
    """Each device a probe names by hand, with the keys that lead to it."""
    found: list[tuple[tuple[str | int, ...], str]] = []
    if probe.device:
        found.append((("device",), probe.device))
    for i, entry in enumerate(probe.conditions or []):
        if not isinstance(entry, str) and entry.device:
            found.append((("conditions", i, "device"), entry.device))
    return found


def lab_script(nonce: str = "", quiet_ms: float | None = None) -> str:
    """The init script that measures web vitals in every page with Google's web-vitals.

    When a page is left it reports its final figures as a console.debug message that starts
    with `nonce` (see `read_report`), so the journey need not ask after every step.
    `quiet_ms`: the settle window (None when settling is off): a page left before it was quiet
    that long after its load event is reported as partial.
    """
    config = json.dumps({"nonce": nonce, "quiet": quiet_ms})
    return _lab_with_library().replace("/*CONFIG*/", config)


@functools.cache
def _lab_with_library() -> str:
    """The init script with web-vitals in it, read once per process. Only this part is cached:
    the nonce is new for every journey, and caching per nonce would grow without end."""
    return _LAB_TEMPLATE.replace("/*WEB_VITALS*/", read_asset("web-vitals.iife.js"))


# Runs before any script of the page, in every frame's main world. The library is wrapped in
# a function so its `webVitals` global never clashes with the site's own copy.
#
# Why it keeps raw entries beside web-vitals: web-vitals reports from PerformanceObserver
# callbacks, which run asynchronously (INP from an idle callback up to a second later), and
# a journey reads a page, or leaves it, at moments of its own choosing. The raw observers are
# flushed with takeRecords() whenever figures are read, so what the browser has reported by
# then is counted: the first contentful paint, the latest LCP candidate, CLS by the same
# session windows web-vitals uses, the longest interaction.
_LAB_TEMPLATE = """
(() => {
  if (window !== window.top || window.__observerLab) return;
  // observer's own visit: real-user snippets tag their beacons synthetic and keep them apart.
  Object.defineProperty(window, '__observerSynthetic', {value: true});
  /*WEB_VITALS*/
  const cfg = /*CONFIG*/;
  const v = {fcp: null, lcp: null, cls: null, inp: null};
  const all = {reportAllChanges: true};
  try {
    webVitals.onFCP(m => { v.fcp = m.value; }, all);
    webVitals.onLCP(m => { v.lcp = m.value; }, all);
    webVitals.onCLS(m => { v.cls = m.value; }, all);
    webVitals.onINP(m => { v.inp = m.value; }, {reportAllChanges: true, durationThreshold: 16});
  } catch (e) { /* a page that broke the platform APIs still gets navigation timing */ }
  let fcp = null, lcp = null, longest = null;
  let cls = null, session = 0, sessionFirst = -1, sessionLast = -1;
  let activity = 0;  // when the page last changed: a request ended, an LCP candidate, a shift
  const observers = [];
  const watch = (type, each, extra) => {
    try {
      const po = new PerformanceObserver(list => list.getEntries().forEach(each));
      po.observe(Object.assign({type: type, buffered: true}, extra || {}));
      observers.push([po, each]);
      return true;
    } catch (e) { return false; }
  };
  watch('paint', e => { if (e.name === 'first-contentful-paint') fcp = e.startTime; });
  watch('largest-contentful-paint', e => {
    lcp = e.startTime;
    activity = Math.max(activity, e.startTime);
  });
  if (watch('layout-shift', e => {
    if (e.hadRecentInput) return;
    activity = Math.max(activity, e.startTime);
    // A session window: shifts less than 1 s apart, at most 5 s long; CLS is the largest.
    const t = e.startTime;
    if (sessionFirst >= 0 && t - sessionLast < 1000 && t - sessionFirst < 5000) {
      session += e.value;
    } else {
      session = e.value;
      sessionFirst = e.startTime;
    }
    sessionLast = e.startTime;
    cls = Math.max(cls || 0, session);
  })) cls = 0;
  const timed = e => { if (longest === null || e.duration > longest) longest = e.duration; };
  watch('event', e => { if (e.interactionId) timed(e); }, {durationThreshold: 16});
  // The first input is timed whatever its duration: a quick click still has an INP.
  watch('first-input', timed);
  watch('resource', e => { activity = Math.max(activity, e.responseEnd || e.startTime); });
  const flush = () => {
    for (const [po, each] of observers) {
      try { po.takeRecords().forEach(each); } catch (e) { /* gone with the page */ }
    }
  };
  // An interaction the browser may never time: a click (or key) that leaves the page before
  // the next frame, when the event timing entry would be made. Its start is kept until a
  // second frame has followed it; a page left before that reports when it began.
  let pending = null, leaving = false;
  const began = e => {
    if (pending === null) pending = e.timeStamp;
  };
  const ended = () => {
    const at = pending;
    if (at === null) return;
    requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(() => {
      if (pending !== at) return;
      pending = null;
      if (leaving) report();  // still here after beforeunload: the timing came after all
    }, 0)));
  };
  addEventListener('pointerdown', began, {capture: true, passive: true});
  addEventListener('keydown', began, {capture: true, passive: true});
  addEventListener('click', ended, {capture: true, passive: true});
  // A press that makes no click (on a disabled control, say) ends with its pointerup.
  addEventListener('pointerup', ended, {capture: true, passive: true});
  addEventListener('keyup', ended, {capture: true, passive: true});
  addEventListener('pointercancel', ended, {capture: true, passive: true});
  const nav = () => performance.getEntriesByType('navigation')[0];
  const pos = x => (x && x > 0 ? x : null);
  const snapshot = () => {
    flush();
    const n = nav();
    const loaded = !!(n && n.loadEventEnd > 0);
    const now = performance.now();
    const quiet = cfg.quiet;
    const since = now - Math.max(activity, n ? n.loadEventEnd : 0);
    // When the page before this one was hidden: its unload, or (across origins, where that is
    // not exposed) when this document's response began and replaced it.
    const hid = n ? (n.unloadEventStart > 0 ? n.unloadEventStart : n.responseStart) : 0;
    const inp = v.inp !== null && (longest === null || v.inp >= longest) ? v.inp : longest;
    return {
      url: location.href, origin: performance.timeOrigin,
      ttfb: n ? pos(n.responseStart) : null,
      dcl: n ? pos(n.domContentLoadedEventEnd) : null,
      load: n ? pos(n.loadEventEnd) : null,
      fcp: fcp !== null ? fcp : v.fcp,
      lcp: lcp !== null ? lcp : v.lcp,
      cls: cls !== null ? cls : (v.cls !== null ? v.cls : (loaded ? 0 : null)),
      inp: inp,
      inp_source: inp === null ? null : 'event',
      // Absolute times (ms since the epoch, the browser's clock) to pair a leaving click with
      // the page that replaced it.
      pending: pending === null ? null : performance.timeOrigin + pending,
      prev_hidden: hid > 0 ? performance.timeOrigin + hid : null,
      loaded: loaded,
      painted: fcp !== null || v.fcp !== null,
      settled: quiet === null ? null : (loaded && fcp !== null && since >= quiet),
      since: since,
    };
  };
  // Reading the last page: wait until the browser has reported its first paint (a page may
  // paint after its load event, and the paint's timing arrives only once the frame is shown),
  // then let two frames pass so an interaction's timing is in, then take every entry queued.
  const read = async (paintWait) => {
    const until = performance.now() + paintWait;
    // LCP comes with the first paint, unless nothing on the page can be one (a page of SVG
    // alone): then a quarter of a second more is all it gets.
    let painted = null;
    const done = () => {
      flush();
      if (fcp === null) return false;
      if (painted === null) painted = performance.now();
      return lcp !== null || performance.now() - painted > 250;
    };
    while (!done() && performance.now() < until) {
      await new Promise(r => setTimeout(r, 10));
    }
    await Promise.race([
      new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(r, 0)))),
      new Promise(r => setTimeout(r, 250)),
    ]);
    return snapshot();
  };
  Object.defineProperty(window, '__observerLab', {value: {read: read, state: snapshot}});
  // Leaving the page (a navigation, a reload, a form sent): report its final figures.
  // beforeunload, not pagehide: by pagehide the next document has replaced this one and its
  // console messages are dropped. console.debug is taken now, before the page's own scripts
  // could replace it; the nonce is the journey's own, kept in this closure, so a page cannot
  // pass off figures of its own as ours. The listener never cancels the navigation.
  const nonce = cfg.nonce;
  const say = console.debug.bind(console);
  const report = () => {
    try {
      const s = snapshot();
      s.left = true;
      say(nonce + JSON.stringify(s));
    } catch (e) { /* nothing to report */ }
  };
  if (nonce) {
    addEventListener('beforeunload', () => { leaving = true; report(); }, true);
    // The page lives on until the next one arrives: timings that come meanwhile still count.
    watch('event', e => { if (leaving && e.interactionId) report(); }, {durationThreshold: 16});
    watch('first-input', () => { if (leaving) report(); });
  }
})();
"""


def snapshot_js() -> str:
    """Expression that reads the current document's lab metrics; its argument is how long (ms)
    to wait for the browser to report the first paint."""
    return _SNAPSHOT_JS


_SNAPSHOT_JS = """async (paintWait) => {
  if (!window.__observerLab) return null;
  return await window.__observerLab.read(paintWait);
}"""


def state_js() -> str:
    """Expression that tells whether the current document has loaded, painted and been quiet."""
    return "() => (window.__observerLab ? window.__observerLab.state() : null)"


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
    out: dict[str, Any] = {"url": raw["url"][:2000], "origin": _number(raw.get("origin"), 1e14)}
    for key in ("ttfb", "dcl", "load", "fcp", "lcp", "cls", "inp", "since"):
        out[key] = _number(raw.get(key), 3_600_000)
    # Absolute times in ms since the epoch.
    for key in ("pending", "prev_hidden"):
        out[key] = _number(raw.get(key), 1e14)
    for key in ("loaded", "painted", "left", "settled"):
        val = raw.get(key)
        out[key] = val if isinstance(val, bool) else None
    source = raw.get("inp_source")
    out["inp_source"] = source if source in ("event", "leave") else None
    return out


def _number(val: Any, limit: float) -> float | None:
    if isinstance(val, int | float) and not isinstance(val, bool) and 0 <= val < limit:
        return float(val)
    return None
