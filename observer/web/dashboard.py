"""The dashboard: server-rendered pages over the store. Every value from a beacon is escaped."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response

from .. import catalog, experience
from ..accessibility import rank
from ..budgets import Rule, Verdict, covers, format_value, interval, measured, percentile
from ..rum.model import rating_for
from ..rum.pages import Pages
from ..store import ProbeStats, RumComment, RumError, RumValue, RunDetails
from . import charts
from .access import authorized, denied, remember_token
from .state import State, runners_view, success_rate

DAY = 86400.0
# The Core Web Vitals, as the overview's and the real users' page tables show them.
_CORE = tuple(m.name for m in catalog.core_vitals())
_env: Environment | None = None


def env() -> Environment:
    """The template environment (autoescaping everything, always)."""
    global _env
    if _env is None:
        _env = Environment(
            loader=PackageLoader("observer.web", "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
        )
        _env.filters["ms"] = lambda v: "–" if v is None else format_value(float(v), "ms")
        _env.filters["measure"] = lambda v, unit: "–" if v is None else format_value(v, unit)
        _env.filters["when"] = lambda t: (
            "–" if not t else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(t)))
        )
        _env.filters["ago"] = _ago
        _env.filters["pct"] = lambda v: "–" if v is None else f"{v * 100:.1f}%"
        _env.globals["rating_colour"] = lambda r: {
            "good": "good",
            "needs-improvement": "ni",
            "poor": "poor",
        }.get(r or "", "")
    return _env


def _ago(t: float | None) -> str:
    if not t:
        return "never"
    s = max(0.0, time.time() - float(t))
    if s < 90:
        return f"{s:.0f}s ago"
    if s < 5400:
        return f"{s / 60:.0f}m ago"
    if s < 2 * DAY:
        return f"{s / 3600:.1f}h ago"
    return f"{s / DAY:.1f}d ago"


def render(name: str, request: Request, status: int = 200, **ctx: Any) -> HTMLResponse:
    """A page from its template."""
    state: State = request.app.state.observer
    html = (
        env()
        .get_template(name)
        .render(request=request, project=state.project, nav=name.split(".")[0], **ctx)
    )
    return HTMLResponse(
        html,
        status_code=status,
        headers={
            "Content-Security-Policy": "default-src 'none'; img-src 'self' data:; "
            "style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "same-origin",
        },
    )


# ------------------------------------------------------------------- pages


def _overview_data(state: State, verdicts: list[Verdict]) -> dict[str, Any]:
    store, project = state.store, state.project
    now = time.time()
    stats = store.probe_stats(now - DAY, [p.name for p in project.probes])
    probes = []
    for p in project.probes:
        recent = store.recent_runs(p.name, 40)
        st = stats.get(p.name) or ProbeStats()
        last = recent[0] if recent else None
        probes.append(
            {
                "name": p.name,
                "kind": p.kind,
                "state": str(last.outcome) if last else "none",
                "last": last,
                "runs": st.runs,
                "success": success_rate(st.passed, st.failed),
                "spark": charts.sparkline(
                    [r.duration_ms or 0 for r in reversed(recent)],
                    [str(r.outcome) for r in reversed(recent)],
                ),
            }
        )
    return {
        "probes": probes,
        "runners": runners_view(store) if store.shared else None,
        "verdicts": verdicts,
        "incidents": store.open_incidents(),
        "rum": _rum_table(store.rum_values(now - DAY, now, _CORE), limit=8),
        "core": catalog.core_vitals(),
        "covers": covers,
        "measured": measured,
        "interval": interval,
    }


def _unit(metric: str) -> str:
    known = catalog.get(metric)
    return known.unit if known else "ms"


def _rum_table(rows: list[RumValue], limit: int = 20) -> list[dict[str, Any]]:
    """Top pages by LCP samples with p75 LCP, INP, CLS and their ratings (from rum_values)."""
    by_page: dict[str, dict[str, list[float]]] = {}
    for r in rows:
        if r.metric in _CORE:
            by_page.setdefault(r.page or "(unknown)", {}).setdefault(r.metric, []).append(r.value)
    first = _CORE[0]  # pages ranked by how many LCP samples they have
    ranked = sorted(by_page.items(), key=lambda kv: -len(kv[1].get(first, [])))[:limit]
    out = []
    for page, metrics in ranked:
        row: dict[str, Any] = {"page": page, "samples": len(metrics.get(first, []))}
        for m in _CORE:
            vals = metrics.get(m, [])
            if vals:
                p75 = percentile(vals, 75)
                row[m] = {"value": format_value(p75, _unit(m)), "rating": rating_for(m, p75)}
            else:
                row[m] = None
        out.append(row)
    return out


async def overview(request: Request) -> Response:
    """Every probe and budget with its state; open incidents on top; real users."""
    if not authorized(request):
        return denied(request)
    state: State = request.app.state.observer
    verdicts, _ = await state.verdicts()
    data = await asyncio.to_thread(_overview_data, state, verdicts)
    return remember_token(request, render("overview.html", request, **data))


def _probe_data(state: State, name: str, verdicts: list[Verdict]) -> dict[str, Any] | None:
    try:
        probe = state.project.probe(name)
    except KeyError:
        return None
    now = time.time()
    since = now - DAY
    runs = state.store.runs_window(name, since)
    recent = state.store.recent_runs(name, 30)
    rules = [r for r in state.project.budgets if name in r.probes]

    def lines_for(metric: str, among: list[Rule] | None = None) -> list[charts.Line]:
        out = []
        for r in rules if among is None else among:
            if r.metric.name == metric and r.metric.step is None:
                out.append(charts.Line(f"{r.name}: {r.threshold.text}", r.threshold.limit))
                if r.warn is not None:
                    out.append(charts.Line(f"warn {r.warn.text}", r.warn.limit, "#d97706"))
        return out

    passed = [r for r in runs if r.outcome == "pass"]
    main_metric = "time" if probe.kind == "http" else "duration"
    duration = charts.timeseries(
        [charts.Series("duration", [(r.started_at, r.duration_ms or 0.0) for r in passed])],
        lines_for(main_metric) + (lines_for("duration") if main_metric == "time" else []),
        title="Duration of runs that completed (24 h)",
    )
    step_chart = None
    vitals_chart = None
    cls_chart = None
    if probe.kind == "journey":
        steps: dict[str, list[tuple[float, float]]] = {}
        when = {r.id: r.started_at for r in runs}
        for step in state.store.step_window([r.id for r in runs][-300:]):
            steps.setdefault(step.name, []).append((when[step.run_id], step.duration_ms))
        top = sorted(steps.items(), key=lambda kv: -max(v for _, v in kv[1]))[:8]
        step_lines = [
            charts.Line(f"{r.name}: {r.threshold.text}", r.threshold.limit)
            for r in rules
            if r.metric.step is not None
        ]
        step_chart = charts.timeseries(
            [charts.Series(k, v) for k, v in top], step_lines, title="Slowest steps (24 h)"
        )
        timed = [m for m in catalog.run_vitals() if m.good_poor and m.unit == "ms"]
        vitals_chart = charts.timeseries(
            [
                charts.Series(
                    m.heading,
                    [(r.started_at, v) for r in runs if (v := r.value(m.column or "")) is not None],
                )
                for m in timed
            ],
            [ln for m in timed for ln in lines_for(m.name)],
            title="Web vitals, worst page of each run (24 h)",
        )
        cls_chart = charts.timeseries(
            [charts.Series("CLS", [(r.started_at, r.cls) for r in runs if r.cls is not None])],
            lines_for("cls"),
            unit="score",
            title="CLS (24 h)",
            height=160,
        )
    a11y_chart = None
    a11y_counts = state.store.violation_counts(name, since) if probe.kind == "journey" else []
    if a11y_counts:
        # Budgets that count every violation of a run, as the chart does (not some impacts or
        # pages only): their limits are lines on it.
        whole = [r for r in rules if r.impact is None and not r.page]
        a11y_chart = charts.timeseries(
            [charts.Series("violations", [(t, float(n)) for t, n in a11y_counts])],
            lines_for("a11y_violations", whole),
            unit="count",
            title="Accessibility violations (distinct rule and element) per checked run (24 h)",
            height=160,
        )
    failed = [r for r in runs if r.outcome == "fail"]
    places = state.store.latest_by_location(name, since)
    return {
        "probe": probe,
        # Each location's newest run, side by side (shown when the probe runs in several).
        "locations": sorted(places.items()) if len(places) > 1 else [],
        "runs": recent,
        "columns": catalog.listed_columns(),
        "duration": duration,
        "steps": step_chart,
        "vitals": vitals_chart,
        "cls": cls_chart,
        "a11y": a11y_chart,
        "a11y_counts": [n for _, n in a11y_counts],
        "success": success_rate(len(passed), len(failed)),
        "count": len(runs),
        "verdicts": [v for v in verdicts if name in v.probes],
        "measured": measured,
        "interval": interval,
    }


async def probe_page(request: Request) -> Response:
    """One probe: its charts with budget lines, recent runs, success rate."""
    if not authorized(request):
        return denied(request)
    state: State = request.app.state.observer
    name = request.path_params["name"]
    verdicts, _ = await state.verdicts()
    data = await asyncio.to_thread(_probe_data, state, name, verdicts)
    if data is None:
        return render("missing.html", request, 404, what=f"probe {name}")
    return remember_token(request, render("probe.html", request, **data))


async def run_page(request: Request) -> Response:
    """One run: the step waterfall, errors, the screenshot, the trace."""
    if not authorized(request):
        return denied(request)
    state: State = request.app.state.observer
    try:
        run_id = int(request.path_params["run_id"])
    except ValueError:
        return render("missing.html", request, 404, what=f"run {request.path_params['run_id']}")
    run = await asyncio.to_thread(state.store.run_details, run_id)
    if run is None:
        return render("missing.html", request, 404, what=f"run {run_id}")
    root = state.project.resolve(state.project.config.settings.artifacts)
    files = [(a, _artifact_href(root, a.path)) for a in run.artifacts]
    return remember_token(
        request,
        render(
            "run.html",
            request,
            run=run,
            files=files,
            waterfall=charts.waterfall(run.steps),
            a11y=_accessibility(run),
        ),
    )


def _accessibility(run: RunDetails) -> dict[str, Any] | None:
    """A run's accessibility violations grouped by page URL, in the order the pages were
    checked, worst first on each; None when it checked no page and found nothing."""
    if not run.a11y_pages and not run.a11y_violations:
        return None
    names = {s.idx: s.name for s in run.steps}
    by_url: dict[str, list[dict[str, Any]]] = {}
    for v in run.a11y_violations:
        where = ""
        if v.step_index is not None:
            step = f"step {v.step_index + 1}"
            if names.get(v.step_index):
                step += f": {names[v.step_index]}"
            where = step if v.source == "step" else f"after {step}"
        by_url.setdefault(v.url, []).append({"v": v, "href": _web_href(v.help_url), "where": where})
    for found in by_url.values():
        found.sort(key=lambda f: (-rank(f["v"].impact), f["v"].rule, f["v"].target))
    return {
        "pages": run.a11y_pages or 0,
        "distinct": len({(v.rule, v.target) for v in run.a11y_violations}),
        "by_url": list(by_url.items()),
    }


def _web_href(url: str | None) -> str | None:
    """The URL when it is an http(s) page, else None: help URLs come from the page checked,
    and a `javascript:` one must not become a link."""
    url = (url or "").strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme in ("http", "https") and parts.netloc else None


def _artifact_href(root: Path, path: str) -> str | None:
    try:
        rel = Path(path).resolve().relative_to(root.resolve())
    except (ValueError, OSError):
        return None
    return "/artifacts/" + rel.as_posix()


async def artifact(request: Request) -> Response:
    """A screenshot or trace, only from inside the artifacts directory."""
    if not authorized(request):
        return denied(request)
    state: State = request.app.state.observer
    root = state.project.resolve(state.project.config.settings.artifacts).resolve()
    rel = request.path_params["path"]
    try:
        target = (root / rel).resolve()
        target.relative_to(root)
    except (ValueError, OSError):
        return Response("not an artifact", status_code=404)
    if not target.is_file():
        return Response("not an artifact", status_code=404)
    if target.suffix == ".zip":
        return FileResponse(target, filename=target.name, media_type="application/zip")
    media = {".png": "image/png", ".jpeg": "image/jpeg", ".jpg": "image/jpeg"}.get(target.suffix)
    if media is None:
        return Response("not an artifact", status_code=404)
    return FileResponse(target, media_type=media)


def _rum_data(state: State) -> dict[str, Any]:
    now = time.time()
    since = now - DAY
    rows = state.store.rum_values(since, now)
    pages: dict[str, int] = {}
    for beacon in rows:
        if beacon.metric == "lcp":
            pages[beacon.page or "(unknown)"] = pages.get(beacon.page or "(unknown)", 0) + 1
    top = [p for p, _ in sorted(pages.items(), key=lambda kv: -kv[1])[:6]]
    hourly: dict[tuple[str, str], dict[float, list[float]]] = {}
    shares: dict[str, dict[str, int]] = {}
    devices: dict[tuple[str, str], list[float]] = {}
    for beacon in rows:
        page = beacon.page or "(unknown)"
        hour = beacon.received_at - beacon.received_at % 3600
        if page in top:
            hourly.setdefault((beacon.metric, page), {}).setdefault(hour, []).append(beacon.value)
        rating = beacon.rating or rating_for(beacon.metric, beacon.value)
        shares.setdefault(beacon.metric, {"good": 0, "needs-improvement": 0, "poor": 0})[
            rating
        ] += 1
        devices.setdefault((beacon.metric, beacon.device or "unknown"), []).append(beacon.value)
    charts_by_metric = {}
    for metric in _CORE:
        series = [
            charts.Series(
                page,
                [
                    (h + 1800, percentile(v, 75))
                    for h, v in sorted(hourly.get((metric, page), {}).items())
                ],
            )
            for page in top
        ]
        vital = catalog.METRICS[metric]
        good, ni = vital.good_poor or (0.0, 0.0)
        charts_by_metric[metric] = charts.timeseries(
            series,
            [
                charts.Line(f"good ≤ {format_value(good, vital.unit)}", good, "#16a34a"),
                charts.Line(f"poor > {format_value(ni, vital.unit)}", ni),
            ],
            unit=vital.unit,
            title=f"p75 {metric.upper()} by page, hourly (24 h)",
        )
    share_rows = [
        {
            "metric": m.upper(),
            "bar": charts.bar_shares(s["good"], s["needs-improvement"], s["poor"]),
            **s,
            "total": sum(s.values()),
        }
        for m, s in sorted(shares.items())
    ]
    device_rows = []
    for vital in catalog.vitals():
        metric = vital.name
        row: dict[str, Any] = {"metric": vital.heading}
        for dev in ("mobile", "desktop", "tablet"):
            vals = devices.get((metric, dev), [])
            row[dev] = (
                {
                    "value": format_value(percentile(vals, 75), _unit(metric)),
                    "rating": rating_for(metric, percentile(vals, 75)),
                    "n": len(vals),
                }
                if vals
                else None
            )
        device_rows.append(row)
    rum = state.project.config.rum
    namer = Pages(rum.pages, rum.keep_query)
    lab: dict[str, list[float]] = {}
    lab_probes: dict[str, set[str]] = {}
    for visited in state.store.lab_pages(since):
        lab_page = namer.name(visited.url)
        if lab_page and visited.lcp_ms is not None:
            lab.setdefault(lab_page, []).append(visited.lcp_ms)
            lab_probes.setdefault(lab_page, set()).add(visited.probe)
    field: dict[str, list[float]] = {}
    for beacon in rows:
        if beacon.metric == "lcp" and beacon.page in lab:
            field.setdefault(beacon.page, []).append(beacon.value)
    side = []
    for page in sorted(lab):
        lab_p75 = percentile(lab[page], 75)
        f = field.get(page)
        side.append(
            {
                "page": page,
                "probes": ", ".join(sorted(lab_probes[page])),
                "lab": {
                    "value": format_value(lab_p75, "ms"),
                    "rating": rating_for("lcp", lab_p75),
                    "n": len(lab[page]),
                },
                "field": None
                if not f
                else {
                    "value": format_value(percentile(f, 75), "ms"),
                    "rating": rating_for("lcp", percentile(f, 75)),
                    "n": len(f),
                },
            }
        )
    return {
        "charts": charts_by_metric,
        "core": catalog.core_vitals(),
        "shares": share_rows,
        "devices": device_rows,
        "side": side,
        "table": _rum_table(rows),
        "errors": _errors(state.store.rum_errors(since, now)),
        "beacons": len(rows),
        "felt": _felt(state, now),
        "comments": _comments(state.store.rum_comments(now - experience.WINDOW, now)),
    }


def _comments(rows: list[RumComment]) -> list[dict[str, Any]]:
    """Customers' latest comments with their answers, as text (the template escapes it)."""
    out = []
    for row in rows:
        try:
            said = json.loads(row.detail or "{}").get("comment")
        except (ValueError, AttributeError):
            said = None
        if said:
            value = "" if row.value is None else f"{row.value:g}"
            out.append(
                {
                    "at": row.received_at,
                    "answer": f"{row.metric.upper()} {value}",
                    "task": row.task or "",
                    "page": row.page or "",
                    "comment": str(said),
                }
            )
    return out


def _felt(state: State, now: float) -> list[dict[str, Any]]:
    """What customers said and did, split by what they met (observer report's split), as
    rows for the real-user page: a bar with its interval per measure and bucket."""
    least = experience.MIN_SAMPLES
    out = []
    for group in experience.split(state.store, now - experience.WINDOW, now):
        rows = []
        for dimension in experience.DIMENSIONS:
            csat, done = group.csat.get(dimension, {}), group.completion.get(dimension, {})
            heading = (
                "frustration" if dimension == "frustration" else catalog.METRICS[dimension].heading
            )
            for bucket in dict.fromkeys([*csat, *done]):
                rows.append(
                    {
                        "dimension": heading,
                        "bucket": bucket,
                        "csat": charts.share_interval(csat.get(bucket), least),
                        "completion": charts.share_interval(done.get(bucket), least),
                    }
                )
        title = f"task {group.name}" if group.kind == "task" else group.name
        out.append({"title": title, "rows": rows})
    return out


def _errors(rows: list[RumError]) -> list[dict[str, Any]]:
    """Each error with its message and where it was thrown, read from its detail."""
    out = []
    for row in rows:
        try:
            detail = json.loads(row.detail or "{}")
        except ValueError:
            detail = {}
        out.append(
            {
                **vars(row),
                "message": detail.get("message") or "",
                "where": detail.get("source") or detail.get("frames") or "",
            }
        )
    return out


async def rum_page(request: Request) -> Response:
    """Real users: p75 by page over time, rating shares, devices, lab beside field."""
    if not authorized(request):
        return denied(request)
    state: State = request.app.state.observer
    data = await asyncio.to_thread(_rum_data, state)
    return remember_token(request, render("rum.html", request, **data))


async def incidents_page(request: Request) -> Response:
    """Incident history with the notifications sent."""
    if not authorized(request):
        return denied(request)
    state: State = request.app.state.observer
    rows = await asyncio.to_thread(state.store.incidents, time.time() - 30 * DAY, 200)
    return remember_token(request, render("incidents.html", request, incidents=rows))
