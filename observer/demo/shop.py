"""The demo shop: a Starlette app with users, carts, orders and run-time switchable faults.

Faults are changed over HTTP (``/__faults``) so that probes running in other processes, or a
browser, see the same shop misbehave exactly when a test or a demo wants it to.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import secrets
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import FrameType, TracebackType
from typing import Literal, TypedDict

import uvicorn
from jinja2 import DictLoader, Environment, StrictUndefined
from markupsafe import Markup
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from ..background import BackgroundServer

SESSION_COOKIE = "session"
CART_COOKIE = "cart"

# Names used by the `fail` and `hang` faults; one per page (GET and POST of a page share it).
PAGE_NAMES = frozenset(
    {
        "home",
        "login",
        "logout",
        "account",
        "products",
        "product",
        "cart",
        "checkout",
        "order",
        "health",
        "api",
    }
)
FAULT_KEYS = ("delay_ms", "fail", "error_rate", "js_error", "hang")
MAX_DELAY_MS = 60_000
MAX_LINE_QUANTITY = 99

# Demo accounts: the password for each email.
USERS: dict[str, str] = {
    "demo@example.com": "demo",
    "alice@example.com": "wonderland",
    "bob@example.com": "builder",
}


@dataclass(frozen=True)
class Product:
    """One catalogue entry; prices are in cents so totals add up exactly."""

    id: int
    name: str
    price_cents: int
    description: str
    colour: str

    @property
    def price(self) -> str:
        """The price formatted for display, e.g. ``$24.00``."""
        return format_money(self.price_cents)


PRODUCTS: tuple[Product, ...] = (
    Product(1, "Espresso Cup Set", 2400, "Four double-walled glass cups for espresso.", "#b5651d"),
    Product(2, "Pour-Over Kettle", 5900, "A gooseneck kettle for a slow, even pour.", "#4a6fa5"),
    Product(3, "Ceramic Dripper", 1850, "A hand-glazed dripper that fits most mugs.", "#c9a227"),
    Product(4, "Burr Coffee Grinder", 12900, "Steel burrs, forty grind settings.", "#3d3d3d"),
    Product(5, "French Press", 3990, "One litre, borosilicate glass, steel frame.", "#6b8e23"),
    Product(6, "Travel Mug", 2200, "Keeps coffee hot for six hours.", "#8b3a62"),
)
_PRODUCTS_BY_ID = {product.id: product for product in PRODUCTS}


def format_money(cents: int) -> str:
    """Format an amount of cents as dollars."""
    return f"${cents // 100:,}.{cents % 100:02d}"


class FaultState(TypedDict, total=False):
    """The faults currently switched on; absent keys are off."""

    delay_ms: int
    fail: list[str]
    error_rate: float
    js_error: bool
    hang: list[str]


class FaultError(ValueError):
    """A fault update that names an unknown key or carries a value of the wrong type."""


def _page_list(key: str, value: object) -> list[str]:
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise FaultError(f"{key} must be a page name or a list of page names")
    unknown = sorted({name for name in names if name not in PAGE_NAMES})
    if unknown:
        raise FaultError(
            f"{key}: unknown page name(s) {', '.join(unknown)}; "
            f"expected some of {', '.join(sorted(PAGE_NAMES))}"
        )
    return list(dict.fromkeys(names))


def merge_faults(current: FaultState, update: Mapping[str, object]) -> FaultState:
    """Return ``current`` with ``update`` applied; a ``null`` value switches that fault off."""
    merged = current.copy()
    for key, value in update.items():
        if key not in FAULT_KEYS:
            raise FaultError(f"unknown fault {key!r}; expected one of {', '.join(FAULT_KEYS)}")
        if key == "delay_ms":
            if value is None:
                merged.pop("delay_ms", None)
            elif (
                isinstance(value, int)
                and not isinstance(value, bool)
                and 0 <= value <= MAX_DELAY_MS
            ):
                merged["delay_ms"] = value
            else:
                raise FaultError(f"delay_ms must be an integer from 0 to {MAX_DELAY_MS}")
        elif key == "error_rate":
            if value is None:
                merged.pop("error_rate", None)
            elif (
                isinstance(value, int | float)
                and not isinstance(value, bool)
                and 0.0 <= value <= 1.0
            ):
                merged["error_rate"] = float(value)
            else:
                raise FaultError("error_rate must be a number from 0 to 1")
        elif key == "js_error":
            if value is None:
                merged.pop("js_error", None)
            elif isinstance(value, bool):
                merged["js_error"] = value
            else:
                raise FaultError("js_error must be true or false")
        elif key == "fail":
            if value is None:
                merged.pop("fail", None)
            else:
                merged["fail"] = _page_list(key, value)
        elif value is None:
            merged.pop("hang", None)
        else:
            merged["hang"] = _page_list(key, value)
    return merged


@dataclass
class CartLine:
    """A product in a cart."""

    product: Product
    quantity: int
    gift_wrap: bool = False

    @property
    def total_cents(self) -> int:
        """Price of the whole line."""
        return self.product.price_cents * self.quantity


@dataclass
class Order:
    """A placed order."""

    id: int
    lines: list[CartLine]
    address: str
    email: str | None
    card_last4: str | None

    @property
    def total_cents(self) -> int:
        """Price of the whole order."""
        return sum(line.total_cents for line in self.lines)


@dataclass
class ShopState:
    """Everything one shop instance remembers; nothing is shared between instances."""

    rum_script: str | None = None
    users: dict[str, str] = field(default_factory=lambda: dict(USERS))
    sessions: dict[str, str] = field(default_factory=dict)
    carts: dict[str, dict[int, CartLine]] = field(default_factory=dict)
    orders: dict[int, Order] = field(default_factory=dict)
    next_order_id: int = 1
    faults: FaultState = field(default_factory=FaultState)
    # Set (from any thread) when the server is stopping, so hung and delayed requests let go.
    closing: bool = False
    _changed: asyncio.Event | None = None
    _changed_loop: asyncio.AbstractEventLoop | None = None

    def _change_event(self) -> asyncio.Event:
        loop = asyncio.get_running_loop()
        # An Event belongs to the loop that first waits on it; tests may drive the app
        # from several loops in turn, so a new loop gets a new Event.
        if self._changed is None or self._changed_loop is not loop:
            self._changed = asyncio.Event()
            self._changed_loop = loop
        return self._changed

    def notify_change(self) -> None:
        """Wake every request waiting on a fault (call from the app's event loop)."""
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    def begin_close(self) -> None:
        """Release hung and delayed requests; safe to call from any thread."""
        self.closing = True
        loop = self._changed_loop
        if loop is not None and not loop.is_closed():
            # The loop may close between the check and the call.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self.notify_change)

    async def pause(self, seconds: float) -> None:
        """Sleep for ``seconds``, or less if the server starts closing."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while not self.closing:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            try:
                await asyncio.wait_for(self._change_event().wait(), remaining)
            except TimeoutError:
                return

    async def hold(self, page: str) -> bool:
        """Wait while ``page`` is hung; False if released because the server is closing."""
        while page in self.faults.get("hang", ()):
            if self.closing:
                return False
            await self._change_event().wait()
        return True


_CSS = """
*{box-sizing:border-box}
body{margin:0;
  font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",Arial,sans-serif;
  color:#1f2328;background:#f6f4f0;display:flex;flex-direction:column;min-height:100vh}
a{color:#8a4b14}
.wrap{max-width:960px;margin:0 auto;padding:0 20px}
.site-header{background:#2b1d14;color:#fff}
.site-header .wrap{display:flex;align-items:center;justify-content:space-between;height:60px}
.brand{color:#fff;font-weight:700;font-size:1.25rem;text-decoration:none}
nav a{color:#f3e6d8;text-decoration:none;margin-left:18px}
nav a:hover{color:#fff;text-decoration:underline}
main.wrap{flex:1;width:100%;padding-top:24px;padding-bottom:40px}
h1{margin:.2em 0 .5em;font-size:2rem}
.hero{background:#fff;border-radius:10px;padding:28px 32px;margin-bottom:24px;
  box-shadow:0 1px 3px rgba(0,0,0,.08)}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(220px,1fr));gap:18px;
  list-style:none;padding:0;margin:0}
.card{background:#fff;border-radius:10px;padding:16px;box-shadow:0 1px 3px rgba(0,0,0,.08)}
.card a{font-weight:600;text-decoration:none}
.swatch{display:block;width:100%;height:auto;border-radius:8px}
.price{font-weight:700;color:#2b1d14}
.product{display:grid;grid-template-columns:minmax(0,360px) 1fr;gap:32px;background:#fff;
  border-radius:10px;padding:24px;box-shadow:0 1px 3px rgba(0,0,0,.08)}
.product .price{font-size:1.5rem}
form.stack{display:flex;flex-direction:column;gap:12px;max-width:420px}
form.inline{display:flex;flex-wrap:wrap;gap:10px;align-items:end;margin-bottom:20px}
label{font-weight:600;display:flex;flex-direction:column;gap:4px}
label select{align-self:flex-start;min-width:90px}
label.check{flex-direction:row;align-items:center;font-weight:400}
input[type=text],input[type=email],input[type=password],input[type=search],select,input:not([type]){
  font:inherit;padding:8px 10px;border:1px solid #c8c1b8;border-radius:6px;background:#fff}
button,.button{font:inherit;font-weight:600;background:#8a4b14;color:#fff;border:0;
  border-radius:6px;padding:9px 18px;cursor:pointer;text-decoration:none;display:inline-block}
button:hover,.button:hover{background:#6d3a0f}
.notice{background:#e6f4ea;border:1px solid #9bd3ae;border-radius:6px;padding:10px 14px}
.error{background:#fdecea;border:1px solid #f5b5ae;border-radius:6px;padding:10px 14px}
table{width:100%;border-collapse:collapse;background:#fff;border-radius:10px;overflow:hidden}
th,td{text-align:left;padding:10px 14px;border-bottom:1px solid #eee}
td.num,th.num{text-align:right}
.muted{color:#6a6f75}
.site-footer{background:#ebe6df;color:#555;font-size:.875rem;padding:18px 0}
"""

_TEMPLATES: dict[str, str] = {
    "layout.html": """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{% if title %}{{ title }} · {% endif %}Demo Shop</title>
<link rel="icon" href="data:,">
{% if rum_script %}<script src="{{ rum_script }}" defer></script>
{% endif %}<style>{{ css }}</style>
{% if js_error %}<script>
window.addEventListener("load", function () {
  console.error("demo-shop: simulated console error");
  throw new Error("demo-shop: simulated page error");
});
</script>
{% endif %}</head>
<body>
<header class="site-header"><div class="wrap">
<a class="brand" href="/">Demo Shop</a>
<nav>
<a href="/">Home</a>
<a href="/products">Products</a>
<a href="/cart" id="nav-cart">Cart (<span id="cart-count">{{ cart_count }}</span>)</a>
{% if user %}<a href="/account" id="nav-account">Account</a>
<a href="/logout" id="nav-logout">Logout</a>
{% else %}<a href="/login" id="nav-login">Login</a>
{% endif %}</nav>
</div></header>
<main class="wrap">
{% block content %}{% endblock %}
</main>
<footer class="site-footer"><div class="wrap">
Demo Shop · a demonstration store for observer · nothing here is for sale ·
<a href="/health">status</a>
</div></footer>
</body>
</html>
""",
    "swatch.html": """<svg class="swatch" viewBox="0 0 320 220" role="img"
 aria-label="{{ product.name }}" xmlns="http://www.w3.org/2000/svg">
<rect width="320" height="220" rx="12" fill="{{ product.colour }}"/>
<circle cx="160" cy="110" r="62" fill="#ffffff" fill-opacity=".22"/>
<text x="160" y="132" font-size="64" text-anchor="middle" fill="#fff"
 font-family="system-ui,sans-serif" font-weight="700">{{ product.name[0] }}</text>
</svg>""",
    "home.html": """{% extends "layout.html" %}{% block content %}
<section class="hero">
<h1>Good coffee gear, delivered</h1>
<p>Welcome to Demo Shop. We sell a small range of brewing equipment, carefully chosen and
shipped the same day.</p>
<p><a class="button" href="/products">Browse all products</a></p>
</section>
<h2>Featured</h2>
<ul class="grid">
{% for product in featured %}<li class="card">
{% include "swatch.html" %}
<p><a href="/products/{{ product.id }}">{{ product.name }}</a><br>
<span class="price">{{ product.price }}</span></p>
</li>
{% endfor %}</ul>
{% endblock %}""",
    "products.html": """{% extends "layout.html" %}{% block content %}
<h1>Products</h1>
<form class="inline" method="get" action="/products" role="search">
<label for="search">Name contains <input id="search" name="q" type="search" value="{{ q }}"
 placeholder="e.g. mug"></label>
<label for="sort">Sort by <select id="sort" name="sort">
<option value="name"{% if sort == "name" %} selected{% endif %}>Name</option>
<option value="price"{% if sort == "price" %} selected{% endif %}>Price</option>
</select></label>
<button type="submit">Search</button>
</form>
{% if products %}<p class="muted" id="result-count">{{ products|length }} product{{
 "" if products|length == 1 else "s" }}</p>
<ul class="grid" id="products">
{% for product in products %}<li class="card product-card" data-id="{{ product.id }}">
{% include "swatch.html" %}
<p><a href="/products/{{ product.id }}">{{ product.name }}</a><br>
<span class="price">{{ product.price }}</span></p>
</li>
{% endfor %}</ul>
{% else %}<p id="no-results">No products match “{{ q }}”.</p>
{% endif %}{% endblock %}""",
    "product.html": """{% extends "layout.html" %}{% block content %}
{% if added %}<p class="notice" role="status" id="added">Added to cart.
<a href="/cart">View cart</a></p>
{% endif %}<article class="product">
<div>{% include "swatch.html" %}</div>
<div>
<h1>{{ product.name }}</h1>
<p class="price" id="price">{{ product.price }}</p>
<p>{{ product.description }}</p>
<form class="stack" method="post" action="/cart">
<input type="hidden" name="product_id" value="{{ product.id }}">
<label for="qty">Quantity <select id="qty" name="qty">
{% for n in range(1, 6) %}<option value="{{ n }}">{{ n }}</option>
{% endfor %}</select></label>
<label class="check" for="gift"><input type="checkbox" id="gift" name="gift"> Gift wrap</label>
<div><button type="submit">Add to cart</button></div>
</form>
<p><button type="button" id="notify" class="notify">Tell me when the price drops</button></p>
</div>
</article>
<p><a href="/products">← Back to all products</a></p>
{% endblock %}""",
    "cart.html": """{% extends "layout.html" %}{% block content %}
<h1>Your cart</h1>
{% if lines %}<table id="cart-items">
<thead><tr><th>Product</th><th class="num">Quantity</th><th class="num">Price</th>
<th class="num">Total</th></tr></thead>
<tbody>
{% for line in lines %}<tr data-id="{{ line.product.id }}">
<td><a href="/products/{{ line.product.id }}">{{ line.product.name }}</a>{% if line.gift_wrap
 %} <span class="muted">(gift wrap)</span>{% endif %}</td>
<td class="num qty">{{ line.quantity }}</td>
<td class="num">{{ line.product.price }}</td>
<td class="num">{{ money(line.total_cents) }}</td>
</tr>
{% endfor %}</tbody>
<tfoot><tr><th colspan="3">Total</th><th class="num" id="cart-total">{{ total }}</th></tr></tfoot>
</table>
<p><a class="button" id="checkout" href="/checkout">Checkout</a></p>
{% else %}<p id="cart-empty">Your cart is empty.</p>
<p><a href="/products">Browse products</a></p>
{% endif %}{% endblock %}""",
    "checkout.html": """{% extends "layout.html" %}{% block content %}
<h1>Checkout</h1>
{% if error %}<p class="error" role="alert" id="error">{{ error }}</p>
{% endif %}{% if lines %}<p id="summary">{{ item_count }} item{{ "" if item_count == 1 else "s" }},
total <strong>{{ total }}</strong>.</p>
{% else %}<p class="muted" id="summary">Your cart is currently empty.</p>
{% endif %}<form class="stack" method="post" action="/checkout">
<label for="address">Delivery address <input id="address" name="address" type="text"
 value="{{ address }}" autocomplete="street-address"></label>
<label for="card">Card number (optional) <input id="card" name="card" type="text"
 inputmode="numeric" autocomplete="off" placeholder="4242 4242 4242 4242"></label>
<div><button type="submit">Place order</button></div>
</form>
{% if rum_script %}<script>
// The task real-user monitoring tracks: it begins here and completes on the order page.
document.addEventListener("DOMContentLoaded", function () {
  if (window.observer) window.observer.begin("checkout");
});
</script>
{% endif %}{% endblock %}""",
    "order.html": """{% extends "layout.html" %}{% block content %}
<section class="hero">
<h1>Thank you for your order</h1>
<p>Order <strong id="order-number">#{{ order.id }}</strong> is confirmed and will ship today.</p>
<p>Delivering to: <span id="order-address">{{ order.address }}</span></p>
{% if order.card_last4 %}<p>Paid with the card ending in {{ order.card_last4 }}.</p>
{% endif %}</section>
<table>
<thead><tr><th>Product</th><th class="num">Quantity</th><th class="num">Total</th></tr></thead>
<tbody>
{% for line in order.lines %}<tr><td>{{ line.product.name }}</td>
<td class="num">{{ line.quantity }}</td><td class="num">{{ money(line.total_cents) }}</td></tr>
{% endfor %}</tbody>
<tfoot><tr><th colspan="2">Total</th><th class="num" id="order-total">{{
 money(order.total_cents) }}</th></tr></tfoot>
</table>
<p><a href="/products">Continue shopping</a></p>
{% if rum_script %}<script>
document.addEventListener("DOMContentLoaded", function () {
  if (window.observer) window.observer.complete("checkout");
});
</script>
{% endif %}{% endblock %}""",
    "login.html": """{% extends "layout.html" %}{% block content %}
<h1>Sign in to your account</h1>
{% if error %}<p class="error" role="alert" id="error">{{ error }}</p>
{% endif %}<form class="stack" method="post" action="/login">
<label for="email">Email <input id="email" name="email" type="email" value="{{ email }}"
 autocomplete="username"></label>
<label for="password">Password <input id="password" name="password" type="password"
 autocomplete="current-password"></label>
<div><button type="submit">Log in</button></div>
</form>
<p class="muted">Try <code>demo@example.com</code> with the password <code>demo</code>.</p>
{% endblock %}""",
    "account.html": """{% extends "layout.html" %}{% block content %}
<h1>Your account</h1>
<p id="welcome">Welcome, {{ user }}</p>
{% if orders %}<h2>Your orders</h2>
<ul id="orders">
{% for order in orders %}<li><a href="/orders/{{ order.id }}">Order #{{ order.id }}</a>,
{{ money(order.total_cents) }}</li>
{% endfor %}</ul>
{% else %}<p class="muted">You have not placed any orders yet.</p>
{% endif %}<p><a href="/products">Shop now</a> · <a href="/logout">Log out</a></p>
{% endblock %}""",
    "message.html": """{% extends "layout.html" %}{% block content %}
<section class="hero">
<h1>{{ heading }}</h1>
<p>{{ message }}</p>
<p><a href="/">Back to the home page</a></p>
</section>
{% endblock %}""",
}

_ENV = Environment(loader=DictLoader(_TEMPLATES), autoescape=True, undefined=StrictUndefined)
# Markup: autoescaping would turn the quotes into entities, which CSS does not decode.
_ENV.globals["css"] = Markup(_CSS)
_ENV.globals["money"] = format_money

Endpoint = Callable[[Request], Awaitable[Response]]
ResponseKind = Literal["html", "text", "json"]


async def _form(request: Request) -> dict[str, str]:
    # Parsed by hand: Starlette's request.form() needs python-multipart, which we don't depend on.
    body = (await request.body()).decode("utf-8", "replace")
    return {
        key: values[0]
        for key, values in urllib.parse.parse_qs(body, keep_blank_values=True).items()
    }


class _Shop:
    """Request handlers bound to one ShopState."""

    def __init__(self, state: ShopState) -> None:
        self.state = state

    # --- helpers -------------------------------------------------------------------------

    def _user(self, request: Request) -> str | None:
        token = request.cookies.get(SESSION_COOKIE)
        return self.state.sessions.get(token) if token else None

    def _cart(self, request: Request) -> dict[int, CartLine]:
        cart_id = request.cookies.get(CART_COOKIE)
        return self.state.carts.get(cart_id, {}) if cart_id else {}

    def render(
        self,
        request: Request,
        template: str,
        title: str | None,
        status: int = 200,
        **context: object,
    ) -> HTMLResponse:
        """Render a page inside the shared layout."""
        html = _ENV.get_template(template).render(
            title=title,
            user=self._user(request),
            cart_count=sum(line.quantity for line in self._cart(request).values()),
            rum_script=self.state.rum_script,
            js_error=self.state.faults.get("js_error", False),
            **context,
        )
        return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})

    def message(
        self, request: Request, status: int, title: str, heading: str, message: str
    ) -> HTMLResponse:
        """A plain page with one heading and one sentence, for errors and refusals."""
        return self.render(request, "message.html", title, status, heading=heading, message=message)

    def failure(self, request: Request, kind: ResponseKind) -> Response:
        """The answer of a page that is failing on purpose."""
        if kind == "text":
            return PlainTextResponse("unhealthy", status_code=500)
        if kind == "json":
            return JSONResponse({"error": "Internal Server Error"}, status_code=500)
        return self.message(
            request,
            500,
            "Error",
            "Internal Server Error",
            "Something went wrong on our side. Please try again in a moment.",
        )

    def page(
        self, name: str, handler: Endpoint, *, kind: ResponseKind = "html", exempt: bool = False
    ) -> Endpoint:
        """Wrap ``handler`` so the page's faults apply; ``exempt`` skips `fail` and `hang`."""

        async def endpoint(request: Request) -> Response:
            if not exempt:
                if not await self.state.hold(name):
                    return PlainTextResponse("shutting down", status_code=503)
                if name in self.state.faults.get("fail", ()):
                    return self.failure(request, kind)
            rate = self.state.faults.get("error_rate", 0.0)
            if rate > 0 and random.random() < rate:
                return self.failure(request, kind)
            try:
                return await handler(request)
            except ClientDisconnect:
                # Usual after a hang or a delay: the client gave up before we read its form.
                return Response(status_code=499)

        return endpoint

    # --- pages ---------------------------------------------------------------------------

    async def health(self, request: Request) -> Response:
        return PlainTextResponse("ok")

    async def home(self, request: Request) -> Response:
        return self.render(request, "home.html", None, featured=PRODUCTS[:3])

    async def login_form(self, request: Request) -> Response:
        return self.render(request, "login.html", "Login", error=None, email="")

    async def login(self, request: Request) -> Response:
        form = await _form(request)
        email = form.get("email", "").strip()
        password = form.get("password", "")
        expected = self.state.users.get(email.lower())
        if expected is None or not secrets.compare_digest(expected, password):
            return self.render(
                request,
                "login.html",
                "Login",
                401,
                error="Invalid email or password",
                email=email,
            )
        old = request.cookies.get(SESSION_COOKIE)
        if old:
            self.state.sessions.pop(old, None)
        token = secrets.token_urlsafe(24)
        self.state.sessions[token] = email.lower()
        response = RedirectResponse("/account", status_code=303)
        response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", path="/")
        return response

    async def logout(self, request: Request) -> Response:
        token = request.cookies.get(SESSION_COOKIE)
        if token:
            self.state.sessions.pop(token, None)
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")
        return response

    async def account(self, request: Request) -> Response:
        user = self._user(request)
        if user is None:
            return RedirectResponse("/login", status_code=303)
        orders = [order for order in self.state.orders.values() if order.email == user]
        return self.render(request, "account.html", "Account", orders=orders)

    async def products(self, request: Request) -> Response:
        q = request.query_params.get("q", "").strip()
        sort = request.query_params.get("sort", "name")
        if sort not in ("name", "price"):
            sort = "name"
        found = [p for p in PRODUCTS if q.casefold() in p.name.casefold()]
        if sort == "price":
            found.sort(key=lambda p: (p.price_cents, p.name))
        else:
            found.sort(key=lambda p: p.name.casefold())
        return self.render(request, "products.html", "Products", products=found, q=q, sort=sort)

    def _product_or_404(self, request: Request, raw_id: str) -> Product | HTMLResponse:
        product = _PRODUCTS_BY_ID.get(int(raw_id)) if raw_id.isdecimal() else None
        if product is None:
            return self.message(
                request,
                404,
                "Not found",
                "Product not found",
                "We could not find that product. It may have been removed from the catalogue.",
            )
        return product

    async def product(self, request: Request) -> Response:
        product = self._product_or_404(request, request.path_params["product_id"])
        if isinstance(product, Response):
            return product
        added = request.query_params.get("added") == "1"
        return self.render(request, "product.html", product.name, product=product, added=added)

    async def cart(self, request: Request) -> Response:
        lines = list(self._cart(request).values())
        total = format_money(sum(line.total_cents for line in lines))
        return self.render(request, "cart.html", "Cart", lines=lines, total=total)

    async def add_to_cart(self, request: Request) -> Response:
        form = await _form(request)
        raw_id = form.get("product_id", "")
        product = self._product_or_404(request, raw_id)
        if isinstance(product, Response):
            return product
        qty_text = form.get("qty", "1")
        quantity = int(qty_text) if qty_text.isdecimal() and len(qty_text) < 4 else 0
        if not 1 <= quantity <= 5:
            return self.message(
                request, 400, "Cart", "Invalid quantity", "Choose a quantity from 1 to 5."
            )
        cart_id = request.cookies.get(CART_COOKIE)
        if not cart_id or cart_id not in self.state.carts:
            cart_id = secrets.token_urlsafe(16)
            self.state.carts[cart_id] = {}
        cart = self.state.carts[cart_id]
        line = cart.get(product.id)
        if line is None:
            cart[product.id] = CartLine(product, quantity, gift_wrap="gift" in form)
        else:
            line.quantity = min(line.quantity + quantity, MAX_LINE_QUANTITY)
            line.gift_wrap = line.gift_wrap or "gift" in form
        response = RedirectResponse(f"/products/{product.id}?added=1", status_code=303)
        response.set_cookie(CART_COOKIE, cart_id, httponly=True, samesite="lax", path="/")
        return response

    def _checkout_page(
        self, request: Request, status: int = 200, error: str | None = None, address: str = ""
    ) -> HTMLResponse:
        lines = list(self._cart(request).values())
        return self.render(
            request,
            "checkout.html",
            "Checkout",
            status,
            lines=lines,
            item_count=sum(line.quantity for line in lines),
            total=format_money(sum(line.total_cents for line in lines)),
            error=error,
            address=address,
        )

    async def checkout_form(self, request: Request) -> Response:
        return self._checkout_page(request)

    async def place_order(self, request: Request) -> Response:
        form = await _form(request)
        address = form.get("address", "").strip()
        cart = self._cart(request)
        if not cart:
            return self._checkout_page(request, 400, "Your cart is empty", address)
        if not address:
            return self._checkout_page(request, 400, "Address is required", address)
        digits = "".join(ch for ch in form.get("card", "") if ch.isdigit())
        order = Order(
            id=self.state.next_order_id,
            lines=list(cart.values()),
            address=address,
            email=self._user(request),
            card_last4=digits[-4:] if len(digits) >= 4 else None,
        )
        self.state.next_order_id += 1
        self.state.orders[order.id] = order
        cart.clear()
        return RedirectResponse(f"/orders/{order.id}", status_code=303)

    async def order(self, request: Request) -> Response:
        raw_id = request.path_params["order_id"]
        order = self.state.orders.get(int(raw_id)) if raw_id.isdecimal() else None
        if order is None:
            return self.message(
                request, 404, "Not found", "Order not found", "There is no order with that number."
            )
        return self.render(request, "order.html", f"Order #{order.id}", order=order)

    async def api_products(self, request: Request) -> Response:
        return JSONResponse(
            [
                {
                    "id": p.id,
                    "name": p.name,
                    "price": p.price_cents / 100,
                    "price_cents": p.price_cents,
                    "url": f"/products/{p.id}",
                }
                for p in PRODUCTS
            ]
        )

    # --- faults --------------------------------------------------------------------------

    async def get_faults(self, request: Request) -> Response:
        return JSONResponse(dict(self.state.faults))

    async def set_faults(self, request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except (json.JSONDecodeError, UnicodeDecodeError):
            return JSONResponse({"error": "body must be a JSON object"}, status_code=400)
        if not isinstance(body, dict):
            return JSONResponse({"error": "body must be a JSON object"}, status_code=400)
        try:
            self.state.faults = merge_faults(self.state.faults, body)
        except FaultError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        self.state.notify_change()
        return JSONResponse(dict(self.state.faults))

    async def clear_faults(self, request: Request) -> Response:
        self.state.faults = FaultState()
        self.state.notify_change()
        return JSONResponse({})

    # --- errors --------------------------------------------------------------------------

    async def not_found(self, request: Request, exc: Exception) -> Response:
        return self.message(
            request, 404, "Not found", "Page not found", "There is nothing at this address."
        )

    async def server_error(self, request: Request, exc: Exception) -> Response:
        return HTMLResponse(
            _ENV.get_template("message.html").render(
                title="Error",
                user=None,
                cart_count=0,
                rum_script=self.state.rum_script,
                js_error=False,
                heading="Internal Server Error",
                message="Something went wrong on our side. Please try again in a moment.",
            ),
            status_code=500,
        )

    def routes(self) -> list[Route]:
        """The shop's routes, each wrapped in its page's faults."""
        p = self.page
        return [
            Route("/health", p("health", self.health, kind="text"), methods=["GET"]),
            Route("/", p("home", self.home), methods=["GET"]),
            Route("/login", p("login", self.login_form), methods=["GET"]),
            Route("/login", p("login", self.login), methods=["POST"]),
            Route("/logout", p("logout", self.logout), methods=["GET"]),
            Route("/account", p("account", self.account), methods=["GET"]),
            Route("/products", p("products", self.products), methods=["GET"]),
            Route("/products/{product_id}", p("product", self.product), methods=["GET"]),
            Route("/cart", p("cart", self.cart), methods=["GET"]),
            Route("/cart", p("cart", self.add_to_cart), methods=["POST"]),
            # A failing or hanging checkout still shows its form, so a journey breaks at
            # "Place order" rather than at navigation.
            Route("/checkout", p("checkout", self.checkout_form, exempt=True), methods=["GET"]),
            Route("/checkout", p("checkout", self.place_order), methods=["POST"]),
            Route("/orders/{order_id}", p("order", self.order), methods=["GET"]),
            Route("/api/products", p("api", self.api_products, kind="json"), methods=["GET"]),
            Route("/__faults", self.get_faults, methods=["GET"]),
            Route("/__faults", self.set_faults, methods=["POST"]),
            Route("/__faults", self.clear_faults, methods=["DELETE"]),
        ]


class _DelayMiddleware:
    """Delay every HTTP request except ``/__faults`` by the ``delay_ms`` fault."""

    def __init__(self, app: ASGIApp, state: ShopState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope["path"].startswith("/__faults"):
            delay_ms = self.state.faults.get("delay_ms", 0)
            if delay_ms > 0:
                await self.state.pause(delay_ms / 1000)
        await self.app(scope, receive, send)


def _build(rum_script: str | None) -> tuple[Starlette, ShopState]:
    state = ShopState(rum_script=rum_script)
    shop = _Shop(state)
    app = Starlette(
        routes=shop.routes(),
        middleware=[Middleware(_DelayMiddleware, state=state)],
        exception_handlers={404: shop.not_found, 500: shop.server_error},
    )
    app.state.shop = state
    return app, state


def create_app(*, rum_script: str | None = None) -> Starlette:
    """A fresh shop with its own state (users, carts, orders, faults)."""
    return _build(rum_script)[0]


class ShopServer:
    """Runs a shop with uvicorn in a background thread, e.g. for tests and demos."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, *, rum_script: str | None = None
    ) -> None:
        self.host = host
        self._port = port
        self.app, self.state = _build(rum_script)
        self._server: BackgroundServer | None = None

    @property
    def port(self) -> int:
        """The port the shop listens on (known once started)."""
        if self._port == 0:
            raise RuntimeError("the shop has no port until it is started")
        return self._port

    @property
    def url(self) -> str:
        """Base URL without a trailing slash, e.g. ``http://127.0.0.1:43123``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> ShopServer:
        """Start serving and return once connections are accepted (at most 10 s)."""
        if self._server is not None:
            raise RuntimeError("the shop is already running")
        # A restart after stop() binds the port of the first start again.
        server = BackgroundServer(
            self.host, self._port, name="demo shop", lifespan=False, grace=2, patience=4
        )
        self._port = server.port
        self.state.closing = False
        server.start(self.app)
        self._server = server
        return self

    def stop(self) -> None:
        """Stop serving; hung requests are released, and this returns within a few seconds."""
        if self._server is None:
            return
        self.state.begin_close()
        self._server.stop()
        self._server = None

    def __enter__(self) -> ShopServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class _ClosingServer(uvicorn.Server):
    """A uvicorn server that lets hung requests go on Ctrl-C instead of cancelling them later."""

    def __init__(self, config: uvicorn.Config, state: ShopState) -> None:
        super().__init__(config)
        self.state = state

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.state.begin_close()
        super().handle_exit(sig, frame)


def serve(host: str, port: int, *, rum_script: str | None = None) -> None:
    """Serve a fresh shop until interrupted (the ``observer demo-shop`` command)."""
    app, state = _build(rum_script)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        lifespan="off",
        timeout_graceful_shutdown=2,
    )
    # uvicorn re-raises the captured Ctrl-C after a clean shutdown; like uvicorn.run, swallow it.
    with contextlib.suppress(KeyboardInterrupt):
        _ClosingServer(config, state).run()
