"""The ASGI application of `observer serve`: /beacon, /rum.js, /healthz (and, as it grows,
the scheduler, /api, /metrics and the dashboard)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import signal
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .config import Project
from .daemon import Daemon
from .retention import keep_pruning
from .rum.ingest import Ingestor, RateLimiter, decode_body, parse_body
from .rum.model import BeaconError, Context
from .rum.pages import Pages
from .store import ProbeStats, Store
from .web.access import api_denied, authorized, has_key
from .web.state import State, runners_view, snippet_source, success_rate

if TYPE_CHECKING:
    from .config.models import Rum

log = logging.getLogger("observer.server")
BODY_TIMEOUT = 10.0  # seconds a client gets to send a beacon's body
ACCEPTED_TYPES = ("application/json", "text/plain", "application/reports+json", "")
CORS_HEADERS = (
    "Content-Type, Content-Encoding, X-Faro-Session-Id, Idempotency-Key, X-API-Key, Authorization"
)


def _client(request: Request, rum: Rum) -> str:
    if rum.trust_forwarded:
        forwarded = request.headers.get("x-forwarded-for")
        if forwarded:
            return forwarded.split(",")[0].strip()[:64]
    return request.client.host if request.client else "unknown"


def _cors(request: Request, rum: Rum) -> dict[str, str] | None:
    """CORS headers for this request's Origin; None when the origin is not allowed."""
    origin = request.headers.get("origin")
    if origin is None:
        return {}
    if "*" in rum.allowed_origins:
        return {"Access-Control-Allow-Origin": "*"}
    if origin in rum.allowed_origins:
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
    return None


def _reply(status: int, body: dict[str, Any], headers: dict[str, str] | None) -> Response:
    return JSONResponse(body, status_code=status, headers=headers or {})


async def _read(request: Request, limit: int) -> bytes:
    """The body, never more than limit bytes read (413 past it)."""
    length = request.headers.get("content-length")
    if length is not None:
        try:
            if int(length) > limit:
                raise BeaconError(f"body over {limit} bytes", 413)
        except ValueError:
            raise BeaconError("bad Content-Length") from None
    chunks: list[bytes] = []
    size = 0

    async def collect() -> None:
        nonlocal size
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise BeaconError(f"body over {limit} bytes", 413)
            chunks.append(chunk)

    # A client that trickles its body (slowloris) must not hold a request open for ever.
    # asyncio.timeout, not wait_for: no extra task per request on the hot path.
    try:
        async with asyncio.timeout(BODY_TIMEOUT):
            await collect()
    except TimeoutError:
        raise BeaconError(f"body not received within {BODY_TIMEOUT:g}s", 408) from None
    return b"".join(chunks)


async def beacon(request: Request) -> Response:
    """Accept beacons: 202 means every accepted item is committed to SQLite."""
    state: State = request.app.state.observer
    rum = state.rum
    counters = state.ingestor.counters
    cors = _cors(request, rum)
    if cors is None:
        counters.reject(403)
        return _reply(403, {"error": "origin not allowed"}, None)
    if request.method == "OPTIONS":
        return Response(
            status_code=204,
            headers={
                **cors,
                "Access-Control-Allow-Methods": "POST, OPTIONS",
                "Access-Control-Allow-Headers": CORS_HEADERS,
                "Access-Control-Max-Age": "86400",
            },
        )
    # The key and the rate are checked before a byte of the body is read.
    if rum.api_key and not has_key(request, rum.api_key):
        counters.reject(401)
        return _reply(401, {"error": "missing or wrong API key"}, cors)
    if state.limiter is not None:
        wait = state.limiter.allow(_client(request, rum))
        if wait > 0:
            counters.reject(429)
            return _reply(
                429,
                {"error": "too many requests"},
                {**cors, "Retry-After": str(max(1, math.ceil(wait)))},
            )
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if ctype not in ACCEPTED_TYPES:
            raise BeaconError(f"unsupported Content-Type {ctype[:40]!r}", 415)
        raw = await _read(request, rum.max_body)
        body = decode_body(raw, request.headers.get("content-encoding"), rum.max_body)
        ctx = Context(
            received_at=time.time(),
            # Capped: both are cached by value, and matching a long User-Agent against the
            # browser patterns costs time quadratic in its length (a 300 KB one: seconds).
            referer=request.headers.get("referer", "")[:2000] or None,
            user_agent=request.headers.get("user-agent", "")[:500] or None,
            idempotency_key=(request.headers.get("idempotency-key") or "")[:128] or None,
            session_header=request.headers.get("x-faro-session-id"),
        )
        items, dropped = parse_body(body, ctx)
        if dropped and not items:
            raise BeaconError(f"no valid items ({len(dropped)} dropped: {dropped[0]})")
    except BeaconError as exc:
        counters.reject(exc.status)
        return _reply(exc.status, {"error": exc.reason}, cors)
    except ClientDisconnect:
        counters.reject(499)
        return Response(status_code=400)
    counters.dropped += len(dropped)
    rows = state.ingestor.rows(items, ctx)
    if rows:
        try:
            await state.ingestor.submit(rows)
        except BeaconError as exc:
            counters.reject(exc.status)
            return _reply(exc.status, {"error": exc.reason}, cors)
        except Exception as exc:
            log.error("beacons not stored: %s", exc)
            counters.reject(503)
            return _reply(
                503, {"error": "could not store beacons; retry"}, {**cors, "Retry-After": "5"}
            )
    counters.accepted += len(rows)
    return _reply(202, {"accepted": len(rows), "dropped": len(dropped)}, cors)


async def rum_js(request: Request) -> Response:
    """The snippet a site adds with one script tag."""
    state: State = request.app.state.observer
    return Response(
        state.rum_js,
        media_type="application/javascript",
        headers={
            "Cache-Control": "public, max-age=300",
            "Access-Control-Allow-Origin": "*",
        },
    )


async def healthz(request: Request) -> Response:
    """Alive, with the database reachable."""
    state: State = request.app.state.observer
    try:
        # In a thread: the connection is shared with writers, and one waiting out another
        # process's lock holds it; read on the loop, that would stall every request.
        await asyncio.to_thread(state.store.schema_version)
    except Exception as exc:
        return _reply(503, {"status": "unhealthy", "error": str(exc)}, None)
    return _reply(200, {"status": "ok", "uptime_s": round(time.time() - state.started_at, 1)}, None)


async def bare(request: Request) -> Response:
    """Does nothing: the benchmark's yardstick for what the server stack itself costs."""
    await request.body()
    return _reply(202, {"accepted": 0, "dropped": 0}, {})


async def _reload_unscheduled(state: State) -> None:
    """SIGHUP under --no-schedule: the new config's RUM settings; a broken one is refused."""
    from .config import ConfigError, load_for_serve

    try:
        project = await asyncio.to_thread(load_for_serve, state.project.path, schedule=False)
    except ConfigError as exc:
        for problem in exc.problems:
            # Variables not set that serve does not need are warnings, not why it is refused.
            say = log.warning if problem.warning else log.error
            say("reload refused: %s", problem, extra={"event": "reload_refused"})
        return
    state.use(project)
    log.info("reloaded (SIGHUP)", extra={"event": "reload"})


def _since(raw: str | None) -> float | None:
    """`since=` as unix seconds, or a duration back from now (`1h`); ValueError if neither."""
    if raw is None or raw == "":
        return None
    try:
        return float(raw)
    except ValueError:
        from .config import parse_duration

        return time.time() - parse_duration(raw)


async def api_probes(request: Request) -> Response:
    """Every probe with its schedule, last run and success over the last 24 hours."""
    if not authorized(request):
        return api_denied(request)
    state: State = request.app.state.observer
    stats = await asyncio.to_thread(
        state.store.probe_stats, time.time() - 86400, [p.name for p in state.project.probes]
    )
    daemon = state.daemon
    slots = daemon.scheduler.slots if daemon is not None and daemon.runs_probes else {}
    out = []
    for probe in state.project.probes:
        st = stats.get(probe.name) or ProbeStats()
        slot = slots.get(probe.name)
        last = st.last
        out.append(
            {
                "name": probe.name,
                "kind": probe.kind,
                "enabled": probe.enabled,
                "every_s": slot.every if slot else None,
                "cron": probe.cron,
                "next_run_at": slot.next_at if slot else None,
                "running": slot.running if slot else False,
                "lag_s": slot.last_lag if slot else None,
                "runs_24h": st.runs,
                "success_rate_24h": success_rate(st.passed, st.failed),
                "last_run": None
                if last is None
                else {
                    "id": last.id,
                    "outcome": str(last.outcome),
                    "started_at": last.started_at,
                    "duration_ms": last.duration_ms,
                    "error": last.error,
                },
            }
        )
    return JSONResponse({"probes": out})


async def api_runs(request: Request) -> Response:
    """Recorded runs, newest first: ?probe=NAME&since=1h|UNIX&limit=N."""
    if not authorized(request):
        return api_denied(request)
    state: State = request.app.state.observer
    q = request.query_params
    try:
        since = _since(q.get("since"))
        limit = int(q.get("limit", "100"))
        if not 1 <= limit <= 10_000:
            raise ValueError("limit is 1..10000")
    except ValueError as exc:
        return _reply(400, {"error": f"bad query: {exc}"}, None)
    runs = await asyncio.to_thread(state.store.runs, q.get("probe"), since, limit)
    return JSONResponse({"runs": [r.to_dict() for r in runs]})


async def api_budgets(request: Request) -> Response:
    """The latest verdicts (judged now when the scheduler is off)."""
    if not authorized(request):
        return api_denied(request)
    state: State = request.app.state.observer
    verdicts, at = await state.verdicts()
    return JSONResponse(
        {"evaluated_at": at, "budgets": [v.to_dict(with_values=False) for v in verdicts]}
    )


async def api_incidents(request: Request) -> Response:
    """Open and recent incidents with their notifications: ?since=1d&limit=N."""
    if not authorized(request):
        return api_denied(request)
    state: State = request.app.state.observer
    q = request.query_params
    try:
        since = _since(q.get("since", "7d"))
        limit = int(q.get("limit", "100"))
    except ValueError as exc:
        return _reply(400, {"error": f"bad query: {exc}"}, None)
    incidents = await asyncio.to_thread(state.store.incidents, since, limit)
    shown = [i.to_dict() for i in incidents]
    open_ = [d for i, d in zip(incidents, shown, strict=True) if i.state.open]
    return JSONResponse({"open": open_, "incidents": shown})


async def api_runners(request: Request) -> Response:
    """The observer processes sharing this database: where, what version and config, alive."""
    if not authorized(request):
        return api_denied(request)
    state: State = request.app.state.observer
    return JSONResponse(await asyncio.to_thread(runners_view, state.store))


async def metrics(request: Request) -> Response:
    """Prometheus text format."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    state: State = request.app.state.observer
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)


def create_app(
    project: Project,
    store: Store,
    *,
    bench: bool = False,
    schedule: bool = False,
    watch: bool = False,
    roles: frozenset[str] | None = None,
    location: str | None = None,
) -> Starlette:
    """The observer server for a loaded project and an open store.

    `roles` say what it does (ROLES); without them, `schedule` means all of them and its
    absence ingest and web. The runner role runs the probes on their schedules, the alerter
    judges the budgets and sends alerts; SIGHUP (and, with `watch`, a changed file) reloads
    the config.
    """
    roles = roles if roles is not None else (ROLES if schedule else frozenset({"ingest", "web"}))
    duties = roles & {"runner", "alerter"}
    rum = project.config.rum
    # Read now, not in the lifespan: a broken install (MissingAsset) is reported before any
    # port is taken, as one sentence rather than uvicorn's start-up traceback.
    snippet = snippet_source(rum)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        from .metrics import Metrics

        ingestor = Ingestor(store, Pages(rum.pages, rum.keep_query), default_app=rum.app)
        ingestor.start()
        limiter = (
            RateLimiter(rum.rate_limit.per_second, rum.rate_limit.burst) if rum.rate_limit else None
        )
        state = State(
            project,
            store,
            ingestor,
            limiter,
            snippet,
            metrics=Metrics(lambda: ingestor.counters),
        )
        app.state.observer = state
        loop = asyncio.get_running_loop()
        if duties:
            state.daemon = Daemon(
                project, store, metrics=state.metrics, watch=watch, roles=duties, location=location
            )
            if "alerter" in duties:
                from .alerts import Alerter

                state.alerter = Alerter(
                    project, store, metrics=state.metrics, may_send=lambda: store.lead("alerter")
                )
                state.daemon.hooks.append(state.alerter.observe)
                state.daemon.on_lead.append(state.alerter.resume)
            state.daemon.on_reload.append(state.use)
            await state.daemon.start()
        daemon = state.daemon
        reloading: set[asyncio.Task[Any]] = set()  # kept referenced until done

        def reload() -> None:
            # SIGHUP's default action ends the process: without the scheduler it still reloads.
            task = loop.create_task(daemon.reload() if daemon else _reload_unscheduled(state))
            reloading.add(task)
            task.add_done_callback(reloading.discard)

        with contextlib.suppress(NotImplementedError, AttributeError, ValueError, RuntimeError):
            loop.add_signal_handler(signal.SIGHUP, reload)
        # The alerter prunes; without one, runs, artifacts and beacons still age out here
        # (on a shared database, that is some other process's job).
        prunes = not (daemon and daemon.judges) and not store.shared
        pruner = loop.create_task(keep_pruning(lambda: state.project, store)) if prunes else None
        log.info(
            "ready: %s%s%s",
            ", ".join(sorted(roles)),
            f"; beacons at {rum.path}" if "ingest" in roles else "",
            "; probes scheduled" if "runner" in roles else "",
            extra={"event": "ready", "roles": sorted(roles)},
        )
        try:
            yield
        finally:
            if pruner is not None:
                pruner.cancel()
            with contextlib.suppress(NotImplementedError, AttributeError, ValueError, RuntimeError):
                loop.remove_signal_handler(signal.SIGHUP)
            if state.daemon is not None:
                await state.daemon.stop()
            if state.alerter is not None:
                await state.alerter.drain(timeout=project.config.settings.shutdown_grace)
            # Requests still waiting for their commit get it before the process goes.
            await ingestor.close()
            log.info(
                "beacons flushed: %d accepted",
                ingestor.counters.accepted,
                extra={"event": "flushed", "accepted": ingestor.counters.accepted},
            )

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
    if "ingest" in roles:
        routes += [
            Route(rum.path, beacon, methods=["POST", "OPTIONS"]),
            Route("/rum.js", rum_js, methods=["GET"]),
        ]
    if "web" in roles:
        from .web import dashboard as dash

        routes += [
            Route("/", dash.overview, methods=["GET"]),
            Route("/probes/{name:path}", dash.probe_page, methods=["GET"]),
            Route("/runs/{run_id}", dash.run_page, methods=["GET"]),
            Route("/rum", dash.rum_page, methods=["GET"]),
            Route("/incidents", dash.incidents_page, methods=["GET"]),
            Route("/artifacts/{path:path}", dash.artifact, methods=["GET"]),
            Route("/api/probes", api_probes, methods=["GET"]),
            Route("/api/runs", api_runs, methods=["GET"]),
            Route("/api/budgets", api_budgets, methods=["GET"]),
            Route("/api/incidents", api_incidents, methods=["GET"]),
            Route("/api/runners", api_runners, methods=["GET"]),
        ]
    if bench:
        routes.append(Route("/__bare", bare, methods=["POST"]))
    return Starlette(routes=routes, lifespan=lifespan)


ROLES = frozenset({"runner", "ingest", "alerter", "web"})


def listen(app: Any, host: str, port: int, project: Project, store: Store, log_level: str) -> bool:
    """Serve the app in the foreground until a signal stops it; False if it never listened."""
    import uvicorn

    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        log_config=None,
        lifespan="on",
        timeout_graceful_shutdown=int(project.config.settings.shutdown_grace),
        # Bounds against floods and slow clients: past this many connections uvicorn
        # answers 503, idle keep-alive connections close after 5 s, and a header block
        # may not grow past 64 KiB.
        limit_concurrency=2000,
        timeout_keep_alive=5,
        h11_max_incomplete_event_size=65536,
    )
    logging.getLogger("observer").info(
        "listening on http://%s:%d (beacons at %s, /rum.js, /metrics, /api); database %s",
        host,
        port,
        project.config.rum.path,
        store.name,
        extra={"event": "listen"},
    )
    server = uvicorn.Server(config)
    server.run()
    return bool(server.started)
