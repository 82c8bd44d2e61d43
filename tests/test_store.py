"""The SQLite store: schema and migrations, refusing files it must not touch, round trips of
results, time-window reads, and several writers on one file."""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from conftest import rows

from observer.results import (
    Artifact,
    Expectation,
    HttpDetails,
    Outcome,
    PageError,
    PageVitals,
    ProbeResult,
    StepResult,
)
from observer.store import (
    MIGRATIONS,
    SCHEMA_VERSION,
    BeaconRow,
    Incident,
    IncidentState,
    Notification,
    Notified,
    SQLiteStore,
    Store,
    StoreError,
    masked,
    open_store,
)

T0 = 1_700_000_000.0  # a fixed "now": nothing here depends on the clock


def journey_result(probe: str = "checkout", started_at: float = T0, **kw: Any) -> ProbeResult:
    return ProbeResult(
        probe=probe,
        kind="journey",
        outcome=Outcome.PASS,
        started_at=started_at,
        duration_ms=1234.5,
        completed=True,
        **kw,
    )


def http_result(probe: str = "health", started_at: float = T0, **kw: Any) -> ProbeResult:
    return ProbeResult(
        probe=probe,
        kind="http",
        outcome=Outcome.PASS,
        started_at=started_at,
        duration_ms=12.0,
        completed=True,
        **kw,
    )


def full_journey() -> ProbeResult:
    """A failed journey with something in every child table."""
    return ProbeResult(
        probe="checkout",
        kind="journey",
        outcome=Outcome.FAIL,
        started_at=T0 + 0.25,
        duration_ms=4321.0,
        completed=False,
        last_mark="cart",
        error="step 3 (click text=Checkout): timed out after 10s",
        failed_step=2,
        steps=[
            StepResult(
                0, "goto /login", "goto", Outcome.PASS, 0.0, 310.5, url="http://shop.test/login"
            ),
            StepResult(
                1,
                "add to cart",
                "click",
                Outcome.PASS,
                310.5,
                90.0,
                url="http://shop.test/products/1",
                captured={"sku": "4711"},
            ),
            StepResult(
                2,
                "click text=Checkout",
                "click",
                Outcome.FAIL,
                400.5,
                10000.0,
                error="timed out after 10s",
                url="http://shop.test/cart",
                log="Locator.click: Timeout 10000ms exceeded.\nCall log:\n  - waiting for ...",
            ),
            StepResult(3, "expect_text Thank you", "expect_text", Outcome.SKIPPED, 10400.5, 0.0),
        ],
        vitals={
            "ttfb_ms": 41.0,
            "fcp_ms": 220.0,
            "lcp_ms": 480.0,
            "cls": 0.02,
            "inp_ms": None,
            "dcl_ms": 300.0,
            "load_ms": 510.0,
        },
        pages=[
            PageVitals(
                url="http://shop.test/login",
                step_index=0,
                ttfb_ms=41.0,
                fcp_ms=220.0,
                lcp_ms=480.0,
                cls=0.0,
                dcl_ms=300.0,
                load_ms=510.0,
            ),
            PageVitals(
                url="http://shop.test/cart",
                step_index=1,
                ttfb_ms=55.0,
                cls=0.02,
                inp_ms=34.0,
                inp_source="leave",
                left_before_load=True,
                partial=True,
            ),
        ],
        errors=[
            PageError(
                kind="console",
                message="Uncaught TypeError: x is undefined",
                url="http://shop.test/cart",
                step_index=1,
            ),
            PageError(kind="requestfailed", message="net::ERR_CONNECTION_REFUSED"),
        ],
        artifacts=[
            Artifact(kind="screenshot", path="artifacts/checkout/1.png", step_index=2),
            Artifact(kind="trace", path="artifacts/checkout/1.zip"),
        ],
        attempt=2,
        location="eu-west",
        device="iPhone 13",
    )


def full_http() -> ProbeResult:
    return ProbeResult(
        probe="health",
        kind="http",
        outcome=Outcome.FAIL,
        started_at=T0 + 1,
        duration_ms=80.0,
        completed=True,
        error="status 503, expected 200",
        http=HttpDetails(
            url="http://shop.test/health",
            method="GET",
            status=503,
            ttfb_ms=70.5,
            time_ms=80.0,
            size_bytes=17,
            expectations=[
                Expectation("status", Outcome.FAIL, "200", "503"),
                Expectation("body_contains", Outcome.PASS, "ok", "found"),
            ],
        ),
    )


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "data" / "observer.db"


@dataclass
class Backend:
    """One engine's database for a test: opened through observer, read back behind its back."""

    kind: str  # sqlite or postgresql
    target: str  # a file, or a URL

    def open(self) -> Store:
        return open_store(self.target)

    def query(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        """Rows as a user of the database's own client would read them (`?` marks)."""
        if self.kind == "sqlite":
            return rows(Path(self.target), sql, *args)
        import psycopg
        from psycopg.rows import dict_row

        with psycopg.connect(self.target, row_factory=dict_row) as conn:
            return list(conn.execute(sql.replace("?", "%s"), list(args)).fetchall())

    def columns(self, table: str) -> list[str]:
        """The table's columns in their order."""
        if self.kind == "sqlite":
            return [c["name"] for c in rows(Path(self.target), f"pragma table_info({table})")]
        found = self.query(
            "select column_name from information_schema.columns where table_name = ? "
            "order by ordinal_position",
            table,
        )
        return [c["column_name"] for c in found]


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """Each store test runs on both engines (PostgreSQL: a fresh database of the session's
    throwaway cluster)."""
    if request.param == "sqlite":
        return Backend("sqlite", str(tmp_path / "data" / "observer.db"))
    return Backend("postgresql", request.getfixturevalue("pg_url"))


@pytest.fixture
def store(backend: Backend) -> Any:
    with backend.open() as s:
        yield s


# ----------------------------------------------------------------------------- schema


def test_new_file_is_migrated_to_the_current_schema(db: Path) -> None:
    assert not db.exists()
    with SQLiteStore(db) as store:
        assert store.schema_version() == SCHEMA_VERSION
    assert db.exists()  # the parent directory was made too
    assert rows(db, "pragma user_version")[0]["user_version"] == SCHEMA_VERSION
    migrations = rows(db, "select version, name, applied_at from migrations order by version")
    assert [(m["version"], m["name"]) for m in migrations] == [
        (i, name) for i, (name, _) in enumerate(MIGRATIONS, start=1)
    ]
    assert all(isinstance(m["applied_at"], float) for m in migrations)
    tables = {r["name"] for r in rows(db, "select name from sqlite_master where type='table'")}
    assert {"runs", "steps", "page_vitals", "errors", "artifacts", "expectations"} <= tables


def test_new_file_is_in_wal_mode(db: Path) -> None:
    SQLiteStore(db).close()
    # WAL is a property of the file: a fresh connection sees it.
    assert rows(db, "pragma journal_mode")[0]["journal_mode"] == "wal"


def _index_columns(db: Path, table: str) -> dict[str, list[str]]:
    out = {}
    for index in rows(db, f"pragma index_list({table})"):
        info = rows(db, f"pragma index_info({index['name']})")
        out[index["name"]] = [c["name"] for c in sorted(info, key=lambda c: c["seqno"])]
    return out


def test_time_window_indexes_exist(db: Path) -> None:
    SQLiteStore(db).close()
    indexes = list(_index_columns(db, "runs").values())
    assert ["probe", "started_at"] in indexes
    assert ["started_at"] in indexes


@pytest.mark.parametrize(
    ("sql", "args"),
    [
        ("select * from runs where probe = ? and started_at >= ?", ("checkout", T0)),
        ("select * from runs where started_at >= ?", (T0,)),
        (
            "select * from runs where probe = ? and started_at >= ? order by started_at desc",
            ("checkout", T0),
        ),
    ],
)
def test_window_queries_use_an_index(db: Path, sql: str, args: tuple[Any, ...]) -> None:
    with SQLiteStore(db) as store:
        plan = " / ".join(r[3] for r in store.conn.execute(f"explain query plan {sql}", args))
    assert "USING INDEX" in plan or "USING COVERING INDEX" in plan, plan
    assert "SCAN runs" not in plan, plan


def test_reopening_does_not_migrate_again_or_lose_data(backend: Backend) -> None:
    with backend.open() as store:
        run_id = store.record(full_journey())
    before = backend.query("select * from migrations order by version")
    assert [m["version"] for m in before] == list(range(1, SCHEMA_VERSION + 1))

    for _ in range(2):
        with backend.open() as store:
            assert store.schema_version() == SCHEMA_VERSION
            assert store.count("runs") == 1
            details = store.run_details(run_id)
            assert details is not None
            assert len(details.steps) == 4

    assert backend.query("select * from migrations order by version") == before


def test_a_newer_postgresql_database_is_refused_and_left_alone(pg_url: str) -> None:
    import psycopg

    with open_store(pg_url) as store:
        store.record(http_result())
    with psycopg.connect(pg_url) as conn:
        conn.execute(
            "insert into migrations (version, name, applied_at) values (%s, 'from the future', 0)",
            [SCHEMA_VERSION + 1],
        )
    with pytest.raises(StoreError) as info:
        open_store(pg_url)
    message = str(info.value)
    assert "upgrade" in message and f"schema {SCHEMA_VERSION + 1}" in message
    password = urlsplit(pg_url).password
    assert password and password not in message
    assert masked(pg_url) in message
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("select count(*) from runs").fetchone() == (1,)


def test_a_newer_database_is_refused_and_left_alone(db: Path) -> None:
    with SQLiteStore(db) as store:
        store.record(http_result())
    conn = sqlite3.connect(db)
    conn.execute(f"pragma user_version = {SCHEMA_VERSION + 1}")
    conn.close()

    with pytest.raises(StoreError) as info:
        SQLiteStore(db)
    message = str(info.value)
    assert str(db) in message
    assert "upgrade" in message
    assert f"schema {SCHEMA_VERSION + 1}" in message
    assert rows(db, "pragma user_version")[0]["user_version"] == SCHEMA_VERSION + 1
    assert rows(db, "select count(*) as n from runs")[0]["n"] == 1


@pytest.mark.parametrize(
    "content",
    [
        b"this is not a database, it is a shopping list\n" * 20,
        bytes(range(256)) * 16,
        b"SQLite format 3\x00" + b"\xff" * 200,
    ],
    ids=["text", "binary", "bad-header"],
)
def test_a_file_that_is_not_sqlite_is_refused_by_name(db: Path, content: bytes) -> None:
    db.parent.mkdir(parents=True)
    db.write_bytes(content)
    with pytest.raises(StoreError) as info:
        SQLiteStore(db)
    assert str(db) in str(info.value)
    assert db.read_bytes() == content  # not "repaired" into an empty database


# ----------------------------------------------------------------------------- writes and reads


def test_journey_round_trip(store: Store) -> None:
    result = full_journey()
    run_id = store.record(result, source="schedule", batch="b-1")
    assert result.run_id == run_id

    details = store.run_details(run_id)
    assert details is not None
    columns = details.to_dict()
    assert {
        k: columns[k]
        for k in (
            "id",
            "probe",
            "kind",
            "outcome",
            "started_at",
            "duration_ms",
            "completed",
            "last_mark",
            "error",
            "failed_step",
            "attempt",
            "location",
            "device",
            "source",
            "batch",
            "error_count",
            "http_status",
            "size_bytes",
        )
    } == {
        "id": run_id,
        "probe": "checkout",
        "kind": "journey",
        "outcome": "fail",
        "started_at": T0 + 0.25,
        "duration_ms": 4321.0,
        "completed": 0,
        "last_mark": "cart",
        "error": "step 3 (click text=Checkout): timed out after 10s",
        "failed_step": 2,
        "attempt": 2,
        "location": "eu-west",
        "device": "iPhone 13",
        "source": "schedule",
        "batch": "b-1",
        "error_count": 2,
        "http_status": None,
        "size_bytes": None,
    }
    assert {k: columns[k] for k in result.vitals} == result.vitals

    assert [s.to_dict() for s in details.steps] == [
        {
            "run_id": run_id,
            "idx": s.index,
            "name": s.name,
            "action": s.action,
            "outcome": str(s.outcome),
            "start_ms": s.start_ms,
            "duration_ms": s.duration_ms,
            "error": s.error,
            "url": s.url,
            "log": s.log,
            "captured": json.dumps(s.captured) if s.captured else None,
        }
        for s in result.steps
    ]
    assert details.steps[1].captured == {"sku": "4711"}
    page = details.page_vitals[1]
    assert (page.inp_source, page.left_before_load, page.partial) == ("leave", True, True)
    assert details.page_vitals[0].partial is False
    assert [p.seq for p in details.page_vitals] == [0, 1]
    assert [p.url for p in details.page_vitals] == [p.url for p in result.pages]
    assert details.page_vitals[1].ttfb_ms == 55.0
    assert details.page_vitals[1].lcp_ms is None
    assert details.page_vitals[0].step_index == 0
    assert [asdict(e) for e in details.errors] == [
        {
            "run_id": run_id,
            "kind": "console",
            "message": "Uncaught TypeError: x is undefined",
            "url": "http://shop.test/cart",
            "step_index": 1,
        },
        {
            "run_id": run_id,
            "kind": "requestfailed",
            "message": "net::ERR_CONNECTION_REFUSED",
            "url": None,
            "step_index": None,
        },
    ]
    assert [asdict(a) for a in details.artifacts] == [
        {
            "run_id": run_id,
            "kind": "screenshot",
            "path": "artifacts/checkout/1.png",
            "step_index": 2,
        },
        {"run_id": run_id, "kind": "trace", "path": "artifacts/checkout/1.zip", "step_index": None},
    ]
    assert details.expectations == []


def test_http_round_trip(store: Store) -> None:
    run_id = store.record(full_http())
    details = store.run_details(run_id)
    assert details is not None
    assert details.kind == "http"
    assert details.outcome == "fail"
    assert details.completed is True
    assert details.http_status == 503
    assert details.size_bytes == 17
    assert details.ttfb_ms == 70.5  # the check's time to first byte is the run's
    assert details.source == "run"
    assert details.batch is None
    assert details.steps == details.page_vitals == details.errors == []
    assert [asdict(e) for e in details.expectations] == [
        {"run_id": run_id, "name": "status", "outcome": "fail", "expected": "200", "actual": "503"},
        {
            "run_id": run_id,
            "name": "body_contains",
            "outcome": "pass",
            "expected": "ok",
            "actual": "found",
        },
    ]


def test_record_many_writes_all_in_order(store: Store, backend: Backend) -> None:
    results = [http_result(started_at=T0 + i) for i in range(3)] + [full_journey()]
    ids = store.record_many(results, source="demo", batch="b-7")
    assert len(set(ids)) == 4
    assert [r.run_id for r in results] == ids
    stored = backend.query("select id, probe, source, batch from runs order by id")
    assert [r["id"] for r in stored] == ids
    assert [r["probe"] for r in stored] == ["health", "health", "health", "checkout"]
    assert {(r["source"], r["batch"]) for r in stored} == {("demo", "b-7")}
    assert store.count("steps") == 4


def test_record_many_is_all_or_nothing(store: Store) -> None:
    good = http_result()
    bad = journey_result(
        steps=[
            StepResult(0, "a", "goto", Outcome.PASS, 0.0, 1.0),
            StepResult(0, "a again", "goto", Outcome.PASS, 1.0, 1.0),  # same index
        ]
    )
    import psycopg

    with pytest.raises((sqlite3.IntegrityError, psycopg.IntegrityError)):
        store.record_many([good, bad])
    assert store.count("runs") == 0
    assert store.count("steps") == 0
    # The store is still usable afterwards.
    store.record(http_result())
    assert store.count("runs") == 1


def test_run_details_of_an_unknown_run(store: Store) -> None:
    assert store.run_details(12345) is None


def test_runs_filters_by_probe_and_time_newest_first(store: Store) -> None:
    # Recorded out of time order on purpose.
    for probe, offset in [("a", 30), ("b", 10), ("a", 0), ("a", 20), ("b", 40), ("a", 15)]:
        store.record(http_result(probe, started_at=T0 + offset))

    def seen(**kw: Any) -> list[tuple[str, float]]:
        return [(r.probe, r.started_at - T0) for r in store.runs(**kw)]

    assert seen() == [("b", 40), ("a", 30), ("a", 20), ("a", 15), ("b", 10), ("a", 0)]
    assert seen(probe="a") == [("a", 30), ("a", 20), ("a", 15), ("a", 0)]
    assert seen(probe="a", since=T0 + 15) == [("a", 30), ("a", 20), ("a", 15)]  # inclusive
    assert seen(since=T0 + 25) == [("b", 40), ("a", 30)]
    assert seen(probe="a", limit=2) == [("a", 30), ("a", 20)]
    assert seen(probe="nobody") == []
    assert all(isinstance(r.id, int) for r in store.runs())


# ----------------------------------------------------------------------------- several writers


def test_two_stores_writing_at_once_lose_nothing(backend: Backend) -> None:
    backend.open().close()
    per_thread = 50
    stores = [backend.open(), backend.open()]  # like two processes: one connection each
    start = threading.Barrier(len(stores))
    failures: list[BaseException] = []
    ids: list[list[int]] = [[] for _ in stores]

    def writer(n: int) -> None:
        try:
            start.wait()
            for i in range(per_thread):
                result = http_result(f"writer-{n}", started_at=T0 + i)
                ids[n].append(stores[n].record(result, batch=f"w{n}"))
        except BaseException as exc:  # reported below, with the thread's name
            failures.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(len(stores))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in stores:
        s.close()

    assert failures == []
    assert all(len(mine) == per_thread for mine in ids)
    all_ids = [i for mine in ids for i in mine]
    assert len(set(all_ids)) == len(all_ids)
    counts = backend.query("select probe, count(*) as n from runs group by probe order by probe")
    assert counts == [
        {"probe": "writer-0", "n": per_thread},
        {"probe": "writer-1", "n": per_thread},
    ]


def test_several_stores_opening_a_new_file_together_all_succeed(tmp_path: Path) -> None:
    # Switching a new file to WAL takes a lock SQLite does not wait for; observer must.
    openers, rounds = 4, 25
    failures: list[BaseException] = []
    for r in range(rounds):
        path = tmp_path / f"new-{r}.db"
        start = threading.Barrier(openers)

        def open_and_write(n: int, path: Path = path, start: threading.Barrier = start) -> None:
            try:
                start.wait()
                with SQLiteStore(path) as s:
                    s.record(http_result(f"opener-{n}"))
            except BaseException as exc:
                failures.append(exc)

        threads = [threading.Thread(target=open_and_write, args=(n,)) for n in range(openers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert failures == [], f"round {r}: {failures}"
        assert rows(path, "select count(*) as n from runs")[0]["n"] == openers
        assert rows(path, "pragma journal_mode")[0]["journal_mode"] == "wal"
        assert rows(path, "select count(*) as n from migrations")[0]["n"] == SCHEMA_VERSION


def test_typed_rows_keep_the_json_their_dicts_had(store: Store, backend: Backend) -> None:
    """/api/runs and `alerts --json` show the stored columns by name, in table order, with
    flags as 0/1 and states as text, as they did when rows were dicts."""
    run_id = store.record(full_journey())
    (run,) = store.runs()
    columns = backend.columns("runs")
    stored = backend.query("select * from runs where id = ?", run_id)[0]
    assert list(run.to_dict()) == columns
    assert run.to_dict() == stored

    incident = Incident(
        rule="r",
        subject="probe:checkout",
        kind="probe",
        state=IncidentState.FIRING,
        opened_at=T0,
        notified=Notified.SILENCED,
    )
    incident.id = store.save_incident(incident)
    store.add_notification(
        Notification(kind="firing", status="silenced", at=T0, incident_id=incident.id, attempt=0)
    )
    (read,) = store.incidents()
    shown = read.to_dict()
    incident_columns = backend.columns("incidents")
    assert list(shown) == [*incident_columns, "notifications"]
    assert {k: v for k, v in shown.items() if k != "notifications"} == backend.query(
        "select * from incidents"
    )[0]
    assert (shown["state"], shown["notified"]) == ("firing", 2)
    assert shown["notifications"] == [
        {"channel": None, "kind": "firing", "status": "silenced", "attempt": 0, "error": None,
         "at": T0}
    ]  # fmt: skip


# ------------------------------------------------------------ every query, both engines


def _beacon(metric: str, at: float, **kw: Any) -> BeaconRow:
    return BeaconRow(received_at=at, metric=metric, app="shop", **kw)


def test_beacons_and_their_window_queries(store: Store) -> None:
    now = T0
    store.insert_beacons(
        [
            _beacon("pageview", now, page="/checkout/pay", session="s1", load_id="l1"),
            _beacon("lcp", now, page="/checkout/pay", value=2000.0, session="s1", load_id="l1",
                    dedupe="lcp-1", rating="good"),
            _beacon("pageview", now, page="/products/7", session="s2", load_id="l2"),
            _beacon("lcp", now, page="/products/7", value=3000.0, session="s2", load_id="l2",
                    device="mobile"),
            _beacon("error", now, page="/products/7", session="s2", load_id="l2", label="TypeError",
                    detail='{"message": "x is undefined"}'),
            _beacon("task_begin", now, label="checkout", session="s1"),
            _beacon("task_begin", now, label="checkout", session="s2"),
            _beacon("task_complete", now, label="checkout", session="s1"),
            _beacon("lcp", now, page="/products/7", value=9.0, synthetic=True),
        ]
    )  # fmt: skip
    # The same report again, grown: it replaces the value, never counts twice.
    assert store.insert_beacons([_beacon("lcp", now + 5, page="/checkout/pay", value=2500.0,
                                         session="s1", load_id="l1", dedupe="lcp-1",
                                         rating="good")]) == 1  # fmt: skip
    window = {"since": now - 60, "until": now + 60}
    assert sorted(store.rum_samples("lcp", **window)) == [2500.0, 3000.0]
    assert store.rum_samples("lcp", page="/checkout*", **window) == [2500.0]
    assert store.rum_samples("lcp", page="/products/?", **window) == [3000.0]
    assert store.rum_samples("lcp", page="/Checkout*", **window) == []  # case counts
    assert store.rum_samples("lcp", device="mobile", **window) == [3000.0]
    assert store.rum_samples("lcp", synthetic=True, **window) == [9.0]
    assert store.rum_samples("lcp", since=now + 61, until=now + 120) == []
    assert store.rum_error_rate(**window) == (1, 2)
    assert store.rum_error_rate(page="/checkout*", **window) == (0, 1)
    assert store.rum_task_sessions("checkout", **window) == (1, 2)
    impact = store.rum_impact(["/products/7", "/checkout/pay"], now - 60, now + 60)
    assert (impact.sessions, impact.loads, impact.errored) == (2, 2, 1)
    assert sorted(impact.lcp) == [2500.0, 3000.0]
    vitals = store.rum_values(now - 60, now + 60)
    assert sorted((v.page, v.metric, v.value) for v in vitals) == [
        ("/checkout/pay", "lcp", 2500.0),
        ("/products/7", "lcp", 3000.0),
    ]
    (err,) = store.rum_errors(now - 60, now + 60)
    assert (err.label, err.page, err.n, err.sessions, err.last) == (
        "TypeError", "/products/7", 1, 1, now
    )  # fmt: skip
    assert (store.rum_count(), store.rum_count(synthetic=True)) == (8, 1)
    assert store.count("beacons") == 9


def test_answers_frustration_and_a_tasks_sessions(store: Store) -> None:
    now = T0
    store.insert_beacons(
        [
            _beacon("pageview", now, page="/checkout", session="s1", load_id="l1"),
            _beacon("csat", now + 1, page="/checkout", value=4.0, session="s1", load_id="l1",
                    label="checkout", detail='{"comment": "fine"}'),
            _beacon("rage_click", now + 2, page="/checkout", session="s1", load_id="l1",
                    label="button#pay"),
            _beacon("pageview", now, page="/search", session="s2", load_id="l2"),
            _beacon("csat", now + 1, page="/search", value=1.0, session="s2", load_id="l2",
                    label="search"),
            _beacon("inp", now + 3, page="/search", value=900.0, rating="poor", session="s2",
                    load_id="l2"),
            _beacon("task_begin", now, label="checkout", session="s3"),
            _beacon("inp", now + 3, page="/checkout", value=80.0, rating="good", session="s3",
                    load_id="l3"),
            _beacon("csat", now, value=5.0, synthetic=True, label="checkout", session="bot"),
        ]
    )  # fmt: skip
    window = {"since": now - 60, "until": now + 60}
    assert store.rum_samples("csat", task="checkout", **window) == [4.0]
    assert store.rum_samples("inp", task="checkout", **window) == [80.0]  # began it
    assert store.rum_samples("inp", task="search", **window) == [900.0]  # answered about it
    assert store.rum_error_rate(signal="rage_click", **window) == (1, 2)
    facts = store.rum_facts(now - 60, now + 60, ("csat", "inp", "rage_click"))
    assert [(f.session, f.metric, f.value, f.label) for f in facts] == [
        ("s1", "csat", 4.0, "checkout"),
        ("s2", "csat", 1.0, "search"),
        ("s1", "rage_click", None, "button#pay"),
        ("s2", "inp", 900.0, None),
        ("s3", "inp", 80.0, None),
    ]  # oldest first; observer's own journeys left out
    # Only the sessions that answered: s3 began a task but said nothing.
    answered = store.rum_facts(now - 60, now + 60, ("inp",), anchors=("csat",))
    assert [(f.session, f.value) for f in answered] == [("s2", 900.0)]


def test_beacons_age_out_by_the_second_over_several_days(store: Store) -> None:
    day = 86400.0
    midnight = T0 - T0 % day
    ages = [3 * day + 5, 2 * day + 1, 2 * day - 1, 1.5 * day, 0.0]
    store.insert_beacons(
        [_beacon("lcp", midnight + 3600 - a, value=float(i), dedupe=f"k{i}")
         for i, a in enumerate(ages)]
    )  # fmt: skip
    cut = midnight + 3600 - 2 * day
    assert store.prune_beacons(cut) == 2
    assert store.prune_beacons(cut) == 0
    left = store.rum_samples("lcp", since=0, until=midnight + 2 * day)
    assert sorted(left) == [2.0, 3.0, 4.0]
    # A key whose beacon went is free again: a new report with it is stored anew.
    assert store.insert_beacons([_beacon("lcp", midnight, value=7.0, dedupe="k0")]) == 1
    assert sorted(store.rum_samples("lcp", since=0, until=midnight + 2 * day)) == [
        2.0, 3.0, 4.0, 7.0
    ]  # fmt: skip


def test_incidents_notifications_silences_and_state(store: Store) -> None:
    inc = Incident(
        rule="checkout down",
        subject="probe:checkout",
        kind="probe",
        state=IncidentState.PENDING,
        opened_at=T0,
        severity="critical",
    )
    inc.id = store.save_incident(inc)
    assert [i.id for i in store.open_incidents()] == [inc.id]
    inc.state, inc.fired_at, inc.notified, inc.breaches = (
        IncidentState.FIRING, T0 + 60, Notified.CHANNELS, 3
    )  # fmt: skip
    assert store.save_incident(inc) == inc.id
    store.add_notification(
        Notification(kind="firing", status="sent", at=T0 + 61, incident_id=inc.id,
                     rule="checkout down", channel="hook", title="[FIRING] x")
    )  # fmt: skip
    store.add_notification(
        Notification(kind="firing", status="failed", at=T0 + 62, incident_id=inc.id,
                     channel="mail", attempt=2, error="550")
    )  # fmt: skip
    (read,) = store.incidents(since=T0 - 1)
    assert (read.state, read.notified, read.breaches, read.fired_at) == (
        IncidentState.FIRING, Notified.CHANNELS, 3, T0 + 60
    )  # fmt: skip
    assert [(n.channel, n.status, n.attempt) for n in read.notifications] == [
        ("hook", "sent", 1), ("mail", "failed", 2)
    ]  # fmt: skip
    assert [n.kind for n in store.notifications("firing")] == ["firing", "firing"]
    inc.state, inc.resolved_at = IncidentState.RESOLVED, T0 + 600
    store.save_incident(inc)
    assert store.open_incidents() == []
    assert store.incidents(since=T0 + 1) == []

    sid = store.add_silence("checkout*", T0, T0 + 3600, "deploy", "ops")
    store.add_silence("old*", T0 - 7200, T0 - 3600, None, None)
    assert [(x.id, x.pattern, x.reason) for x in store.silences(T0 + 10)] == [
        (sid, "checkout*", "deploy")
    ]  # fmt: skip
    assert len(store.silences(T0 + 10, active_only=False)) == 2

    assert store.get_kv("alerts.last_run_id") is None
    store.set_kv("alerts.last_run_id", "41")
    store.set_kv("alerts.last_run_id", "42")
    assert store.get_kv("alerts.last_run_id") == "42"


def test_runs_for_budgets_charts_and_alerts(store: Store) -> None:
    from observer.budgets import METRICS, parse_metric

    def journey(at: float, ok: bool) -> ProbeResult:
        second = Outcome.PASS if ok else Outcome.FAIL
        return ProbeResult(
            probe="checkout",
            kind="journey",
            outcome=second,
            started_at=at,
            duration_ms=1000.0 + at - T0,
            completed=ok,
            steps=[
                StepResult(0, "a", "goto", Outcome.PASS, 0.0, 1.0),
                StepResult(1, "b", "click", second, 1.0, 2.0),
            ],
            pages=[PageVitals(url="http://shop.test/", step_index=0, lcp_ms=900.0)],
        )

    a, b = journey(T0 + 1, True), journey(T0 + 2, False)
    c = http_result("health", started_at=T0 + 3)
    ids = store.record_many([a, b, c], source="serve", batch="b1")
    samples = store.samples(METRICS["duration"], ["checkout", "health"], since=T0, until=T0 + 9)
    assert samples == {"checkout": [a.duration_ms], "health": [c.duration_ms]}  # passes only
    assert store.samples(METRICS["completion"], ["checkout"], batch="b1") == {
        "checkout": [1.0, 0.0]
    }
    assert store.samples(parse_metric("step:b"), ["checkout"], batch="b1") == {"checkout": [2.0]}
    stats = store.probe_stats(T0, ["checkout", "health", "nobody"])
    assert (stats["checkout"].runs, stats["checkout"].passed, stats["checkout"].failed) == (2, 1, 1)
    assert stats["checkout"].last is not None and stats["checkout"].last.id == ids[1]
    assert "nobody" not in stats
    (last,) = store.last_runs("checkout", 1)
    assert last.id == ids[1] and last.failed is not None and last.failed.name == "b"
    assert [r.id for r in store.recent_runs("checkout")] == [ids[1], ids[0]]
    assert [r.id for r in store.runs_window("checkout", T0)] == [ids[0], ids[1]]
    steps = store.step_window([ids[0], ids[1]])
    assert [(s.run_id, s.name, str(s.outcome)) for s in steps] == [
        (ids[0], "a", "pass"),
        (ids[0], "b", "pass"),
        (ids[1], "a", "pass"),
        (ids[1], "b", "fail"),
    ]
    assert [r.id for r in store.runs_after(ids[0])] == [ids[1], ids[2]]
    assert sorted(store.probe_paths(["checkout"], T0)) == ["http://shop.test/"]
    assert [(p.probe, p.url) for p in store.lab_pages(T0)] == [
        ("checkout", "http://shop.test/"), ("checkout", "http://shop.test/")
    ]  # fmt: skip
    assert store.prune_runs(T0 + 2) == 1
    assert [r.id for r in store.runs()] == [ids[2], ids[1]]


def test_the_postgresql_password_never_shows(pg_url: str) -> None:
    password = urlsplit(pg_url).password
    assert password
    with open_store(pg_url) as store:
        assert password not in store.name and ":***@" in store.name
    wrong = pg_url.replace(f":{password}@", ":not-the-password@")
    with pytest.raises(StoreError) as info:
        open_store(wrong)
    assert "not-the-password" not in str(info.value) and "password" in str(info.value)
    gone = pg_url.rsplit(":", 1)[0] + ":1/nowhere"
    with pytest.raises(StoreError) as info:
        open_store(gone)
    assert password not in str(info.value) and "cannot connect" in str(info.value)


def test_postgresql_beacons_are_kept_by_day_and_days_are_dropped_whole(pg_url: str) -> None:
    import psycopg

    day = 86400.0
    midnight = T0 - T0 % day
    with open_store(pg_url) as store:
        store.insert_beacons(
            [_beacon("lcp", midnight - d * day + 60, value=float(d)) for d in (0, 1, 2, 3)]
        )
        with psycopg.connect(pg_url) as conn:

            def days() -> list[str]:
                found = conn.execute(
                    "select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid "
                    "where i.inhparent = 'beacons'::regclass order by 1"
                ).fetchall()
                return [name for (name,) in found]

            assert len(days()) == 4
            assert store.prune_beacons(midnight - day) == 2
            assert len(days()) == 2  # the two whole days went as tables, not row by row
        assert sorted(store.rum_samples("lcp", since=0, until=T0 + day)) == [0.0, 1.0]


def test_ci_checks_runs_stay_out_of_production_windows(store: Store) -> None:
    """A check's runs (source check) are its own: serve's windows, the dashboard's trends
    and the alerter's cursor leave them out; the check itself and `observer budgets` read them."""
    from observer.budgets import METRICS

    serve = store.record(http_result(started_at=T0 + 1), source="serve")
    check = store.record(http_result(started_at=T0 + 2), source="check", batch="ci-1")
    time_metric = METRICS["time"]
    window = {"since": T0, "until": T0 + 9}
    assert store.samples(time_metric, ["health"], production=True, **window) == {"health": [12.0]}
    assert len(store.samples(time_metric, ["health"], **window)["health"]) == 2
    assert len(store.samples(time_metric, ["health"], batch="ci-1")["health"]) == 1
    assert store.probe_stats(T0, ["health"])["health"].runs == 1
    assert [r.id for r in store.runs_window("health", T0)] == [serve]
    assert [r.id for r in store.runs_after(0)] == [serve]
    # The list of recent runs shows every run, the check's too.
    assert {r.id for r in store.recent_runs("health")} == {serve, check}
