"""`observer db copy`: history moves between SQLite files and PostgreSQL, both ways, merges
per-location files with each run keeping its location, resumes after an interruption without
doubling anything, and reports counts that match. Real files, a real PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import observer

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
    BeaconRow,
    Incident,
    IncidentState,
    Notification,
    Notified,
    Store,
    copy_history,
    open_store,
)

T0 = 1_760_000_000.0


def history(store: Store, location: str | None = None, runs: int = 3) -> None:
    """Runs of both kinds with every detail, beacons, an incident with notifications, a
    silence: what a real database holds."""
    for i in range(runs):
        ok = i % 2 == 0
        journey = ProbeResult(
            probe="checkout",
            kind="journey",
            outcome=Outcome.PASS if ok else Outcome.FAIL,
            started_at=T0 + i * 60,
            duration_ms=1500.0 + i,
            completed=ok,
            error=None if ok else "place order: 2 elements match",
            location=location,
            steps=[
                StepResult(0, "goto /", "goto", Outcome.PASS, 0.0, 300.0, url="http://shop/"),
                StepResult(
                    1,
                    "place order",
                    "click",
                    Outcome.PASS if ok else Outcome.FAIL,
                    300.0,
                    900.0,
                    None if ok else "2 elements match",
                    captured={"order": "4711"},
                ),
            ],
            pages=[PageVitals(url="http://shop/", step_index=0, lcp_ms=800.0 + i, cls=0.01)],
            errors=[] if ok else [PageError("console", "boom", "http://shop/", 1)],
            artifacts=[] if ok else [Artifact("screenshot", f"/art/{i}.png", 1)],
        )
        journey.vitals = {"lcp_ms": 800.0 + i, "cls": 0.01}
        check = ProbeResult(
            probe="health",
            kind="http",
            outcome=Outcome.PASS,
            started_at=T0 + i * 60 + 1,
            duration_ms=12.0,
            completed=True,
            location=location,
        )
        check.http = HttpDetails(
            url="http://shop/health",
            method="GET",
            status=200,
            expectations=[Expectation("status", Outcome.PASS, "200", "200")],
        )
        store.record_many([journey, check], source="serve")
    store.insert_beacons(
        [
            BeaconRow(received_at=T0 + n, metric="lcp", page="/p", value=1000.0 + n,
                      session=f"s{n}", load_id=f"l{n}", dedupe=f"{location}-{n}")
            for n in range(25)
        ]
        + [BeaconRow(received_at=T0, metric="pageview", page="/p", session="s0", load_id="l0")]
    )  # fmt: skip
    run_id = store.runs(probe="checkout")[0].id
    inc = Incident(
        rule="checkout down",
        subject="probe:checkout",
        kind="probe",
        state=IncidentState.RESOLVED,
        opened_at=T0,
        fired_at=T0 + 60,
        resolved_at=T0 + 600,
        notified=Notified.CHANNELS,
        run_id=run_id,
    )
    inc.id = store.save_incident(inc)
    for kind in ("firing", "resolved"):
        store.add_notification(
            Notification(kind=kind, status="sent", at=T0 + 60, incident_id=inc.id, channel="hook")
        )
    store.add_silence("health*", T0, T0 + 3600, "deploy", "ops")


def content(store: Store) -> dict[str, Any]:
    """Everything a user can read back, without the ids a copy renumbers."""
    runs = []
    for r in sorted(store.runs(), key=lambda r: (r.started_at, r.probe)):
        d = store.run_details(r.id)
        assert d is not None
        runs.append(
            (
                {k: v for k, v in d.to_dict().items() if k != "id"},
                [{k: v for k, v in s.to_dict().items() if k != "run_id"} for s in d.steps],
                [(p.url, p.lcp_ms, p.cls) for p in d.page_vitals],
                [(e.kind, e.message) for e in d.errors],
                [(a.kind, a.path) for a in d.artifacts],
                [(e.name, str(e.outcome)) for e in d.expectations],
            )
        )
    incidents = []
    for i in store.incidents(since=0):
        shown = i.to_dict()
        run = store.run_details(i.run_id) if i.run_id else None
        shown.pop("id")
        shown["run_id"] = run.started_at if run else None  # the run it points at, by time
        incidents.append(shown)
    beacons = sorted(store.rum_samples("lcp", since=0, until=T0 + 10**6))
    silences = [(s.pattern, s.reason) for s in store.silences(T0 + 10)]
    return {"runs": runs, "incidents": incidents, "beacons": beacons, "silences": silences}


def test_history_goes_to_postgresql_and_back_unchanged(tmp_path: Path, pg_url: str) -> None:
    first = tmp_path / "first.db"
    with open_store(first) as store:
        history(store, "eu-west")
        before = content(store)

    there = observer("db", "copy", str(first), pg_url)
    assert there.code == 0, there.stderr
    lines = there.stdout.splitlines()
    assert lines[0].startswith(f"{first} -> postgresql://") and ":***@" in lines[0]
    assert all(line.strip().startswith("ok") for line in lines[1:]), there.stdout
    assert "runs                  6 of 6" in there.stdout
    with open_store(pg_url) as store:
        assert content(store) == before

    back = tmp_path / "back.db"
    home = observer("db", "copy", pg_url, str(back))
    assert home.code == 0, home.stderr
    with open_store(back) as store:
        assert content(store) == before

    # Again: nothing more is copied, and everything is still accounted for.
    again = observer("db", "copy", str(first), pg_url)
    assert again.code == 0 and "(0 now)" in again.stdout and "(6 now)" not in again.stdout
    with open_store(pg_url) as store:
        assert len(store.runs()) == 6


def test_per_location_files_merge_each_run_keeping_its_location(
    tmp_path: Path, pg_url: str
) -> None:
    eu, us = tmp_path / "eu.db", tmp_path / "us.db"
    with open_store(eu) as store:
        history(store, "eu-west", runs=2)
    with open_store(us) as store:
        history(store, None, runs=3)  # recorded before runs said where they ran
    done = observer("db", "copy", str(eu), f"us-east={us}", pg_url)
    assert done.code == 0, done.stderr
    assert "(location us-east)" in done.stdout
    with open_store(pg_url) as store:
        runs = store.runs()
        by_place: dict[str | None, int] = {}
        for r in runs:
            by_place[r.location] = by_place.get(r.location, 0) + 1
        assert by_place == {"eu-west": 4, "us-east": 6}
        assert len(store.incidents(since=0)) == 2  # each still points at a run of its own file
        for inc in store.incidents(since=0):
            run = store.run_details(inc.run_id or 0)
            assert run is not None and run.probe == "checkout"
        assert len(store.silences(T0 + 10)) == 2


def test_a_copy_that_stopped_resumes_without_doubling(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import observer.store.copy as copy_module

    source = tmp_path / "big.db"
    with open_store(source) as store:
        history(store, "eu-west", runs=10)
        before = content(store)
    monkeypatch.setattr(copy_module, "RUNS_PER_BATCH", 3)
    monkeypatch.setattr(copy_module, "BEACONS_PER_BATCH", 7)

    class Stop(Exception):
        pass

    def stop_in(name: str, after: int) -> Any:
        def progress(table: str, copied: int) -> None:
            if table == name and copied >= after:
                raise Stop

        return progress

    with open_store(source) as src, open_store(pg_url) as dst:
        with pytest.raises(Stop):
            copy_history(src, dst, "big", progress=stop_in("runs", 6))
        assert len(dst.runs()) == 6  # two whole batches, nothing half-written
        with pytest.raises(Stop):
            copy_history(src, dst, "big", progress=stop_in("beacons", 14))
        assert len(dst.runs()) == 20
        counts = {c.table: c for c in copy_history(src, dst, "big")}
        assert all(c.complete for c in counts.values()), counts
        assert (counts["runs"].copied, counts["runs"].held) == (0, 20)
        assert (counts["beacons"].copied, counts["beacons"].held) == (26 - 14, 26)
        assert content(dst) == before


def test_bad_copies_are_refused_with_a_sentence(tmp_path: Path, pg_url: str) -> None:
    one = tmp_path / "one.db"
    with open_store(one) as store:
        history(store, runs=1)
    same = observer("db", "copy", str(one), str(one))
    assert same.code == 2 and "is the destination itself" in same.stderr
    alone = observer("db", "copy", str(one))
    assert alone.code == 2 and "a destination" in alone.stderr
    nowhere = "postgresql://observer:copy-secret@127.0.0.1:1/none"
    down = observer("db", "copy", str(one), nowhere)
    assert down.code == 3 and "cannot connect" in down.stderr
    assert "copy-secret" not in down.stderr + down.stdout
