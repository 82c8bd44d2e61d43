"""Who may read and write: the beacon key, and the dashboard's token or basic credentials.

The dashboard's pages and the /api routes are guarded alike; only the refusal differs (a page
for a browser, JSON for a program).
"""

from __future__ import annotations

import base64
import hmac
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

if TYPE_CHECKING:
    from .state import State

TOKEN_COOKIE = "observer_token"


def _same(given: str, secret: str) -> bool:
    # Constant time, so a wrong guess says nothing about how close it came.
    return hmac.compare_digest(given.encode(), secret.encode())


def bearer(request: Request) -> str | None:
    """The token of an `Authorization: Bearer` header, if the request has one."""
    auth = request.headers.get("authorization", "")
    return auth[7:].strip() if auth.lower().startswith("bearer ") else None


def has_key(request: Request, key: str) -> bool:
    """The request carries the beacon API key (X-API-Key, ?api_key= or a Bearer token)."""
    given = (
        request.headers.get("x-api-key") or request.query_params.get("api_key") or bearer(request)
    )
    return _same(given or "", key)


def authorized(request: Request) -> bool:
    """No access control configured, or the request carries the token / basic credentials."""
    state: State = request.app.state.observer
    dash = state.project.config.settings.dashboard
    if dash.token is None and dash.basic_auth is None:
        return True
    if dash.token is not None:
        given = (
            request.query_params.get("token")
            or request.cookies.get(TOKEN_COOKIE)
            or bearer(request)
        )
        if given and _same(given, dash.token):
            return True
    if dash.basic_auth is not None:
        header = request.headers.get("authorization", "")
        if header.lower().startswith("basic "):
            try:
                user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            except ValueError:
                return False
            ok_user = _same(user, dash.basic_auth.user)
            ok_pass = _same(password, dash.basic_auth.password)
            return ok_user and ok_pass
    return False


def _challenge(request: Request) -> dict[str, str]:
    # RFC 9110 wants a 401 to say how to authenticate; only basic credentials have a scheme
    # a browser can act on.
    state: State = request.app.state.observer
    if state.project.config.settings.dashboard.basic_auth is None:
        return {}
    return {"WWW-Authenticate": 'Basic realm="observer"'}


def denied(request: Request) -> Response:
    """401 for a dashboard page, asking for basic credentials when those are configured."""
    return HTMLResponse(
        "<!doctype html><title>401</title><p>observer: this dashboard needs a "
        "token (?token=...) or credentials.</p>",
        status_code=401,
        headers=_challenge(request),
    )


def api_denied(request: Request) -> Response:
    """401 for an /api route, asking for basic credentials when those are configured."""
    return JSONResponse(
        {"error": "this API needs the dashboard token"},
        status_code=401,
        headers=_challenge(request),
    )


def remember_token(request: Request, response: Response) -> Response:
    """A token given in the URL is kept in a cookie, so links work without it."""
    token = request.query_params.get("token")
    if token:
        response.set_cookie(
            TOKEN_COOKIE,
            token,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
    return response
