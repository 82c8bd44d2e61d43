"""A value typed with `secret: true` never shows up in anything observer writes or prints.

The journeys type realistic secrets (spaces, `*`, `~`, `!`, `&`, quotes: characters that the
browser percent-encodes in form bodies and URLs and that the shop HTML-escapes when it echoes
them) into a real shop, then fail so that the Playwright trace is kept. We then look for every
form the value can take, and for a distinctive core of each value that survives any encoding,
in the database, stdout, stderr and every entry of every trace zip. Each check is paired with
evidence that the secret really was used (so the absence is not vacuous) and that `***` stands
where it was.
"""

from __future__ import annotations

import dataclasses
import hashlib
import html
import json
import logging
import textwrap
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from conftest import Done, dump_database, observer, rows

from observer.demo.shop import ShopServer
from observer.results import Artifact, Outcome, ProbeResult, StepResult
from observer.secrets import MASK, RedactingFilter, Redactor, mask_url, url_secrets

USER = "carol@example.com"
# Each secret has an alphanumeric core that no encoding changes: if any form of the secret
# slipped through, its core would be there too.
PASSWORD_CORE = "Pw7Qx2Lm9"
ADDRESS_CORE = "S3cr3t-Value-91827"
SEARCH_CORE = "Srch4Kt8Zv"
PASSWORD = f'{PASSWORD_CORE} *~!&"x'
ADDRESS = f'{ADDRESS_CORE}, Flat 4/B & "Co"'
SEARCH = f"{SEARCH_CORE} *~x"
SECRETS = (PASSWORD, ADDRESS, SEARCH)
CORES = (PASSWORD_CORE, ADDRESS_CORE, SEARCH_CORE)

PROBES = """
settings:
  database: results.db
  step_timeout: 5s
vars:
  base_url: ${BASE_URL}
probes:
  - name: shop-with-secrets
    journey:
      - goto: ${base_url}/login
      - fill: {selector: "#email", value: carol@example.com}
      - fill: {selector: "#password", value: "${SHOP_PASSWORD}", secret: true}
      - {name: submit, click: "button[type=submit]"}
      - expect_text: "Welcome, carol@example.com"
      - goto: ${base_url}/products
      - fill: {selector: "#search", value: "${SEARCH_TERM}", secret: true}
      - press: {selector: "#search", key: Enter}
      - expect_text: {text: No products match, selector: "#no-results"}
      - goto: ${base_url}/products/1
      - click: "text=Add to cart"
      - goto: ${base_url}/checkout
      - fill: {selector: "#address", value: "${ADDRESS}", secret: true}
      - click: "text=Place order"
      - expect_text: Thank you for your order
      - {name: the end, goto: "${base_url}/no-such-page"}

  - name: missing-field
    journey:
      - goto: ${base_url}/login
      - {fill: {selector: "#no-such-field", value: "${SHOP_PASSWORD}", secret: true}, timeout: 1s}

  - name: echo
    journey:
      - goto: ${base_url}/products
      - fill: {selector: "#search", value: "${SEARCH_TERM}", secret: true}
      - press: {selector: "#search", key: Enter}
      - {expect_text: {text: "${SEARCH_TERM}", selector: "#result-count"}, timeout: 1s}
"""


def forms(secret: str) -> set[str]:
    """Every way a browser, a server or a serializer may write the secret down."""
    out = {
        secret,
        quote(secret, safe=""),
        quote_plus(secret),
        # application/x-www-form-urlencoded as browsers write it (form bodies, URLSearchParams)
        quote_plus(secret, safe="*").replace("~", "%7E"),
        quote(secret, safe="!~*'()"),  # encodeURIComponent
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        html.escape(secret),
        html.escape(secret, quote=False),
        html.escape(secret, quote=False).replace('"', "&#34;").replace("'", "&#39;"),
    }
    return out


NEEDLES = sorted({f for s in SECRETS for f in forms(s)} | set(CORES), key=len, reverse=True)


def leaks(text: str | bytes) -> list[str]:
    """The needles found in text."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    return [n for n in NEEDLES if n.encode("utf-8") in data]


@dataclass
class Run:
    done: Done
    folder: Path
    db: Path

    def traces(self) -> list[Path]:
        return sorted(self.folder.rglob("trace.zip"))


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def shop() -> Iterator[ShopServer]:
    with ShopServer() as server:
        server.state.users[USER] = PASSWORD  # a shop account whose password we chose
        yield server


def _run(shop: ShopServer, folder: Path, *args: str) -> Run:
    file = folder / "probes.yaml"
    file.write_text(textwrap.dedent(PROBES).lstrip("\n"), encoding="utf-8")
    env = {
        "BASE_URL": shop.url,
        "SHOP_PASSWORD": PASSWORD,
        "SEARCH_TERM": SEARCH,
        "ADDRESS": ADDRESS,
    }
    done = observer("run", str(file), *args, env=env, cwd=folder)
    return Run(done, folder, folder / "results.db")


@pytest.fixture(scope="module")
def json_run(shop: ShopServer, tmp_path_factory: pytest.TempPathFactory) -> Run:
    return _run(shop, tmp_path_factory.mktemp("secrets-json"), "--json")


@pytest.fixture(scope="module")
def human_run(shop: ShopServer, tmp_path_factory: pytest.TempPathFactory) -> Run:
    return _run(shop, tmp_path_factory.mktemp("secrets-human"))


def result(run: Run, probe: str) -> dict[str, Any]:
    return next(r for r in run.done.json()["results"] if r["probe"] == probe)


# --------------------------------------------------------------------------- the secrets were used


def test_the_secrets_really_reached_the_shop(shop: ShopServer, json_run: Run) -> None:
    assert json_run.done.code == 1, json_run.done.stderr
    r = result(json_run, "shop-with-secrets")
    # The shop only lets carol in with the exact password, and the search and the order
    # went through: every step up to the deliberate 404 passed.
    assert r["outcome"] == "fail"
    assert [s["outcome"] for s in r["steps"]] == ["pass"] * 15 + ["fail"]
    assert r["steps"][-1]["name"] == "the end"
    assert ADDRESS in [o.address for o in shop.state.orders.values()]
    assert any(o.email == USER for o in shop.state.orders.values())


# --------------------------------------------------------------------------- database


def test_no_secret_in_the_database(json_run: Run) -> None:
    dump = dump_database(json_run.db)
    assert dump
    assert leaks(dump) == []


def test_database_shows_the_mask_where_the_secret_was(json_run: Run) -> None:
    urls = [r["url"] for r in rows(json_run.db, "select url from steps where url is not null")]
    searched = [u for u in urls if "/products?" in u]
    assert searched, urls  # the search form put the secret in the URL...
    assert all(f"q={MASK}" in u for u in searched), searched  # ...and it was masked there
    pages = [r["url"] for r in rows(json_run.db, "select url from page_vitals")]
    assert any(f"q={MASK}" in u for u in pages), pages
    errors = [
        r["error"] for r in rows(json_run.db, "select error from steps where error is not null")
    ]
    assert any(f"looking for '{MASK}'" in e for e in errors), errors  # echoed in a message


# --------------------------------------------------------------------------- stdout / stderr


def test_no_secret_in_json_output(json_run: Run) -> None:
    assert leaks(json_run.done.stdout) == []
    assert leaks(json_run.done.stderr) == []
    assert MASK in json_run.done.stdout


def test_no_secret_in_human_output(human_run: Run) -> None:
    done = human_run.done
    assert done.code == 1, done.stderr
    assert "shop-with-secrets" in done.stdout and "0 passed · 3 failed" in done.stdout
    assert leaks(done.stdout) == []
    assert leaks(done.stderr) == []
    assert leaks(dump_database(human_run.db)) == []
    for trace in human_run.traces():
        with zipfile.ZipFile(trace) as z:
            for name in z.namelist():
                assert leaks(z.read(name)) == [], (trace, name)


# --------------------------------------------------------------------------- error messages


def test_secret_filled_into_a_missing_field_is_not_in_the_error(json_run: Run) -> None:
    r = result(json_run, "missing-field")
    assert r["outcome"] == "fail"
    step = r["steps"][1]
    assert step["outcome"] == "fail" and step["name"] == "fill #no-such-field"
    assert step["error"] == (
        "fill `#no-such-field`: no element matches (waited 1s, the step timeout)"
    )
    # Playwright's own words are kept beside it (and masked like the rest).
    assert "Timeout 1000ms exceeded" in step["log"]
    assert leaks(json.dumps(r)) == []


def test_secret_echoed_in_an_error_message_is_masked(json_run: Run) -> None:
    r = result(json_run, "echo")
    assert r["outcome"] == "fail"
    step = r["steps"][-1]
    assert step["name"] == "expect_text *** in #result-count"
    # The message names the text it looked for and the URL it was on: both carried the secret.
    assert step["error"].startswith(
        f"expect_text `#result-count`: no element matches, looking for '{MASK}' on http"
    )
    assert f"q={MASK}" in step["error"]
    assert f"looking for '{MASK}'" in r["error"]
    assert leaks(json.dumps(r)) == []


# --------------------------------------------------------------------------- the trace


def _trace(run: Run, probe: str) -> Path:
    paths = [a["path"] for a in result(run, probe)["artifacts"] if a["kind"] == "trace"]
    assert len(paths) == 1
    path = Path(paths[0])
    return path if path.is_absolute() else run.folder / path


def _jsonl(z: zipfile.ZipFile, name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in z.read(name).decode("utf-8").splitlines() if line]


def test_every_trace_entry_is_free_of_secrets(json_run: Run) -> None:
    traces = json_run.traces()
    assert len(traces) == 3  # every journey failed, so every trace was kept
    for trace in traces:
        with zipfile.ZipFile(trace) as z:
            names = z.namelist()
            assert any(n.startswith("resources/") for n in names)  # network bodies are in
            for name in names:
                assert leaks(z.read(name)) == [], (trace, name)


def test_trace_has_the_mask_where_the_secret_was_typed_and_sent(json_run: Run) -> None:
    with zipfile.ZipFile(_trace(json_run, "shop-with-secrets")) as z:
        events = [e for n in z.namelist() if n.endswith(".trace") for e in _jsonl(z, n)]
        fills = {
            e["params"]["selector"]: e["params"]["value"]
            for e in events
            if e.get("type") == "before" and e.get("method") == "fill"
        }
        assert fills == {
            "#email": USER,  # not a secret: kept as typed
            "#password": MASK,
            "#search": MASK,
            "#address": MASK,
        }

        network = [e["snapshot"] for e in _jsonl(z, "trace.network") if "snapshot" in e]
        posts = {
            s["request"]["url"].rsplit("/", 1)[-1]: s["request"].get("postData") or {}
            for s in network
            if s["request"]["method"] == "POST"
        }
        # The login and checkout forms were posted and their bodies recorded, masked.
        assert {p["name"]: p["value"] for p in posts["login"]["params"]} == {
            "email": USER,
            "password": MASK,
        }
        assert (
            z.read(posts["login"]["_file"]) == f"email={quote_plus(USER)}&password={MASK}".encode()
        )
        assert z.read(posts["checkout"]["_file"]) == f"address={MASK}&card=".encode()

        # Bodies are stored under the SHA-1 of their content; after masking, the name is the
        # hash of the masked body, never of one with the secret (which would let a reader
        # confirm guesses of it offline).
        for name in z.namelist():
            if name.startswith("resources/"):
                assert Path(name).stem == hashlib.sha1(z.read(name)).hexdigest(), name
        sent = f"email={quote_plus(USER)}&password={quote_plus(PASSWORD, safe='*')}"
        sent = sent.replace("~", "%7E")
        assert hashlib.sha1(sent.encode()).hexdigest() not in "\n".join(z.namelist())

        # The search put the secret in a URL; the order page showed the address.
        urls = [s["request"]["url"] for s in network]
        assert any(f"/products?q={MASK}&sort=name" in u for u in urls), urls
        pages = [
            z.read(s["response"]["content"]["_file"])
            for s in network
            if "/orders/" in s["request"]["url"] and s["response"]["content"].get("_file")
        ]
        assert pages and all(f'id="order-address">{MASK}<'.encode() in p for p in pages)


# --------------------------------------------------------------------------- Redactor


def test_redactor_masks_the_plain_value() -> None:
    r = Redactor(["hunter2"])
    assert r.text("password is hunter2, again hunter2") == "password is ***, again ***"
    assert r.text("nothing here") == "nothing here"


@pytest.mark.parametrize(
    "encode",
    [
        pytest.param(lambda s: quote(s, safe=""), id="percent-encoded"),
        pytest.param(quote_plus, id="quote_plus"),
        pytest.param(lambda s: quote_plus(s, safe="*").replace("~", "%7E"), id="form-body"),
        pytest.param(lambda s: quote(s, safe="!~*'()"), id="encodeURIComponent"),
        pytest.param(lambda s: json.dumps(s)[1:-1], id="json-escaped"),
        pytest.param(html.escape, id="html-escaped"),
        pytest.param(
            lambda s: html.escape(s, quote=False).replace('"', "&#34;").replace("'", "&#39;"),
            id="html-numeric-entities",
        ),
    ],
)
def test_redactor_masks_encoded_forms(encode: Any) -> None:
    secret = "p@ss wörd/1*~!&\"'\\<>"
    encoded = encode(secret)
    assert encoded != secret
    r = Redactor([secret])
    assert r.text(f"before {encoded} after") == "before *** after"
    assert r.bytes(f"before {encoded} after".encode()) == b"before *** after"


def test_redactor_masks_the_longest_secret_first() -> None:
    r = Redactor(["abc", "abcdef"])
    assert r.text("x abcdef y abc z") == "x *** y *** z"
    r = Redactor(["abcdef", "abc"])
    assert r.text("x abcdef y abc z") == "x *** y *** z"


def test_redactor_ignores_empty_secrets_and_is_false_without_any() -> None:
    assert not Redactor()
    assert not Redactor([""])
    assert Redactor(["x1"])
    unchanged = {"a": ["b"]}
    assert Redactor().data(unchanged) is unchanged


def test_redactor_data_walks_dataclasses_and_containers() -> None:
    secret = "t0p-s3cret"
    res = ProbeResult(
        probe="p",
        kind="journey",
        outcome=Outcome.FAIL,
        started_at=1.0,
        duration_ms=2.0,
        error=f"typed {secret}",
        steps=[
            StepResult(
                0,
                f"expect_text {secret}",
                "expect_text",
                Outcome.FAIL,
                0.0,
                1.0,
                error=f"text '{secret}' not found",
                url=f"http://x/?q={secret}",
            ),
        ],
        artifacts=[Artifact("trace", f"/tmp/{secret}/trace.zip")],
        vitals={"ttfb_ms": 1.0},
    )
    out = Redactor([secret]).data(res)
    assert secret not in json.dumps(out.to_dict())
    assert out.error == "typed ***"
    assert out.steps[0].name == "expect_text ***"
    assert out.steps[0].outcome is Outcome.FAIL
    assert out.vitals == {"ttfb_ms": 1.0}
    assert res.error == f"typed {secret}"  # a copy: the original is untouched
    assert dataclasses.is_dataclass(out)
    data = Redactor([secret]).data({"k": [secret, (secret, 3)], "n": None})
    assert data == {"k": ["***", ("***", 3)], "n": None}


def test_redactor_rewrites_zip_files_but_not_images(tmp_path: Path) -> None:
    secret = "zipped s3cret"
    path = tmp_path / "trace.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("trace.trace", json.dumps({"value": secret}))
        z.writestr("resources/body.dat", f"q={quote_plus(secret)}")
        z.writestr("shot.png", secret.encode())
    Redactor([secret]).zip_file(path)
    with zipfile.ZipFile(path) as z:
        assert json.loads(z.read("trace.trace")) == {"value": "***"}
        assert z.read("resources/body.dat") == b"q=***"
        assert z.read("shot.png") == secret.encode()  # binary images are left alone
    assert [p.name for p in tmp_path.iterdir()] == ["trace.zip"]  # no temporary file left


def test_redactor_renames_trace_resources_after_their_masked_content(tmp_path: Path) -> None:
    secret = "b0dy-s3cret"
    # The first two bodies differ only by their secrets: masked, they are one and the same file.
    bodies = [f"user=a&password={secret}".encode(), b"user=a&password=other-secret-99"]
    bodies.append(f"user=a&password={secret}!".encode())
    names = [hashlib.sha1(b).hexdigest() for b in bodies]
    path = tmp_path / "trace.zip"
    with zipfile.ZipFile(path, "w") as z:
        for name, body in zip(names, bodies, strict=True):
            z.writestr(f"resources/{name}.dat", body)
        refs = [{"postData": {"_file": f"resources/{n}.dat", "_sha1": f"{n}.dat"}} for n in names]
        z.writestr("trace.network", "\n".join(json.dumps(r) for r in refs))
    Redactor([secret, "other-secret-99"]).zip_file(path)
    with zipfile.ZipFile(path) as z:
        entries = z.namelist()
        assert len(entries) == len(set(entries))
        for name in entries:
            if name.startswith("resources/"):
                assert Path(name).stem == hashlib.sha1(z.read(name)).hexdigest()
        assert not any(n in " ".join(entries) for n in names)
        network = z.read("trace.network").decode()
        assert not any(n in network for n in names)
        for line in network.splitlines():
            ref = json.loads(line)["postData"]
            assert z.read(ref["_file"]).startswith(b"user=a&password=***")
            assert ref["_file"] == f"resources/{ref['_sha1']}"


def test_redacting_filter_masks_log_records() -> None:
    secret = "l0gged-s3cret"
    logger = logging.getLogger("observer.test_secrets")
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep()
    handler.addFilter(RedactingFilter(Redactor([secret])))
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("login with %s failed", secret)
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    assert [r.getMessage() for r in records] == ["login with *** failed"]


def test_a_channel_url_shows_scheme_and_host_and_gives_up_its_credentials() -> None:
    mail = "mailto://observer:Pw9secret@127.0.0.1:2525?to=ops@example.com&token=tk_abcdef"
    hook = "json://127.0.0.1:9/hook/Wh00kT0kenXq93"
    assert mask_url(mail) == "mailto://***@127.0.0.1/***"
    assert mask_url(hook) == "json://127.0.0.1/***"
    # The whole URL, and the parts distinct enough to mask alone (not `hook`, not the user).
    assert url_secrets(mail) == {mail, "Pw9secret", "tk_abcdef"}
    assert url_secrets(hook) == {hook, "Wh00kT0kenXq93"}
    for url in (mail, hook):
        assert not any(part in mask_url(url) for part in url_secrets(url))
    assert mask_url("json://[::1/x") == MASK and url_secrets("json://[::1/x") == {"json://[::1/x"}


@pytest.mark.parametrize(
    ("url", "shown", "parts"),
    [
        # The host slot holds a token, not a host name: Slack, Discord, Telegram's bot id.
        (
            "slack://T0KENaaaa/T0KENbbbbb/T0KENcccccccccccccccc/#ops",
            "slack://***/***",
            {"T0KENaaaa", "T0KENbbbbb", "T0KENcccccccccccccccc"},
        ),
        ("discord://4711000001/Wh0okToken99", "discord://***/***", {"4711000001", "Wh0okToken99"}),
        # Telegram's bot token stands in the port slot.
        ("tgram://123456789:AAHsecretbot/-1001", "tgram://***/***", {"123456789", "AAHsecretbot"}),
        # Real host names are shown, whatever their case.
        (
            "ntfys://ops:Pw9secret@Ntfy.Example.com/alerts",
            "ntfys://***@ntfy.example.com/***",
            {"Pw9secret"},
        ),
        ("json://localhost:8080/x", "json://localhost/***", set()),
        # A one-word host name (a container's, a cluster service's) is a host, not a token.
        ("json://alertmanager:9093/api/v2/alerts", "json://alertmanager/***", set()),
        ("ntfy://ntfy-server/ops-alerts", "ntfy://ntfy-server/***", {"ops-alerts"}),
    ],
)
def test_tokens_in_the_host_or_port_slot_are_credentials(
    url: str, shown: str, parts: set[str]
) -> None:
    assert mask_url(url) == shown
    assert url_secrets(url) == {url, *parts}
    assert not any(part in mask_url(url) for part in parts)
