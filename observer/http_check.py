"""Run one HTTP probe with httpx."""

from __future__ import annotations

import re
import ssl
import time
from typing import TYPE_CHECKING

from .config import Probe, Project
from .config.types import format_duration
from .results import Expectation, HttpDetails, Outcome, ProbeResult

if TYPE_CHECKING:
    import httpx

    from .config.models import HttpExpect

MAX_BODY = 10 * 1024 * 1024  # read at most this much of a body to judge it


def _as_list(value: str | list[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else value


def network_error(exc: BaseException) -> str:
    """A sentence for a transport failure: the site could not be reached."""
    import httpx

    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"TLS certificate not trusted: {cause.verify_message}"
        if isinstance(cause, ssl.SSLError):
            return f"TLS error: {cause.reason or cause}"
        cause = cause.__cause__ or cause.__context__
    kinds = [
        (httpx.ConnectTimeout, "connection timed out"),
        (httpx.ReadTimeout, "no response in time"),
        (httpx.WriteTimeout, "sending the request timed out"),
        (httpx.PoolTimeout, "timed out waiting for a connection"),
        (httpx.ConnectError, "could not connect"),
        (httpx.RemoteProtocolError, "the server broke the HTTP protocol"),
        (httpx.ReadError, "the connection failed while reading"),
        (httpx.TooManyRedirects, "too many redirects"),
    ]
    for kind, words in kinds:
        if isinstance(exc, kind):
            detail = str(exc).strip()
            return f"{words}: {detail}" if detail else words
    return f"{type(exc).__name__}: {exc}"


async def run_http(client: httpx.AsyncClient, project: Project, probe: Probe) -> ProbeResult:
    """Send the request and judge the response; unreachable is the site's `fail`."""
    import httpx

    assert probe.http is not None
    settings = project.config.settings
    timeout = probe.timeout or settings.timeout
    expect = probe.expect
    started = time.time()
    t0 = time.perf_counter()
    details = HttpDetails(url=probe.http, method=probe.method)
    result = ProbeResult(
        probe=probe.name,
        kind="http",
        outcome=Outcome.PASS,
        started_at=started,
        duration_ms=0.0,
        http=details,
        location=settings.location,
    )
    headers = dict(probe.headers)
    if settings.user_agent and not any(k.lower() == "user-agent" for k in headers):
        headers["User-Agent"] = settings.user_agent
    body = b""
    truncated = False
    try:
        request = client.build_request(
            probe.method,
            probe.http,
            headers=headers,
            content=probe.body.encode() if probe.body is not None else None,
            timeout=httpx.Timeout(timeout),
        )
        response = await client.send(request, stream=True)
        try:
            details.ttfb_ms = round((time.perf_counter() - t0) * 1000, 1)
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size <= MAX_BODY:
                    chunks.append(chunk)
                else:
                    truncated = True
            details.size_bytes = size
            body = b"".join(chunks)
        finally:
            await response.aclose()
    except httpx.UnsupportedProtocol as exc:  # e.g. ftp://: the file's mistake, not the site's
        result.outcome = Outcome.ERROR
        result.error = f"cannot send this request: {exc}"
        result.duration_ms = round((time.perf_counter() - t0) * 1000, 1)
        return result
    except httpx.HTTPError as exc:
        details.time_ms = round((time.perf_counter() - t0) * 1000, 1)
        result.outcome = Outcome.FAIL
        result.error = network_error(exc)
        result.duration_ms = details.time_ms
        return result
    except ValueError as exc:  # a URL httpx refuses
        result.outcome = Outcome.ERROR
        result.error = f"cannot send this request: {exc}"
        result.duration_ms = round((time.perf_counter() - t0) * 1000, 1)
        return result
    details.time_ms = round((time.perf_counter() - t0) * 1000, 1)
    result.duration_ms = details.time_ms
    details.status = response.status_code
    text = _decode(response, body)
    details.expectations = _judge(expect, response, text, details.time_ms)
    failed = [e for e in details.expectations if e.outcome == Outcome.FAIL]
    if failed:
        result.outcome = Outcome.FAIL
        result.error = "; ".join(f"{e.name}: expected {e.expected}, got {e.actual}" for e in failed)
    elif truncated and expect is not None and (expect.body_contains or expect.body_matches):
        result.error = f"body over {MAX_BODY} bytes; only the first part was searched"
    result.completed = result.outcome == Outcome.PASS
    return result


def _judge(
    expect: HttpExpect | None, response: httpx.Response, text: str, time_ms: float
) -> list[Expectation]:
    """Each expectation of the check, judged; with none given, the status must be 2xx or 3xx."""
    exps: list[Expectation] = []

    def judge(name: str, ok: bool, expected: str, actual: str) -> None:
        exps.append(Expectation(name, Outcome.PASS if ok else Outcome.FAIL, expected, actual))

    status = response.status_code
    if expect is None or expect.status is None:
        judge("status", 200 <= status < 400, "2xx or 3xx", str(status))
    else:
        allowed = [expect.status] if isinstance(expect.status, int) else expect.status
        judge("status", status in allowed, " or ".join(map(str, allowed)), str(status))
    if expect is not None:
        for needle in _as_list(expect.body_contains):
            judge(
                "body_contains",
                needle in text,
                f"contains {needle!r}",
                "found" if needle in text else "not found",
            )
        for needle in _as_list(expect.body_not_contains):
            judge(
                "body_not_contains",
                needle not in text,
                f"does not contain {needle!r}",
                "found" if needle in text else "not found",
            )
        if expect.body_matches is not None:
            found = re.search(expect.body_matches, text) is not None
            judge(
                "body_matches",
                found,
                f"matches /{expect.body_matches}/",
                "matched" if found else "no match",
            )
        for name, want in expect.headers.items():
            got = response.headers.get(name)
            judge(
                f"header {name}",
                got is not None and want in got,
                f"contains {want!r}",
                "missing" if got is None else repr(got[:200]),
            )
        if expect.max_time is not None:
            judge(
                "max_time",
                time_ms <= expect.max_time * 1000,
                f"<= {format_duration(expect.max_time)}",
                f"{time_ms:g}ms",
            )
    return exps


def _decode(response: httpx.Response, body: bytes) -> str:
    encoding = response.charset_encoding or "utf-8"
    try:
        return body.decode(encoding, errors="replace")
    except LookupError:
        return body.decode("utf-8", errors="replace")
