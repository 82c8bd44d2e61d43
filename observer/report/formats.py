"""Budget reports for machines and pull requests: JUnit XML, GitHub annotations, Markdown."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from ..budgets import Status, covers, format_value, measured
from ..results import Outcome
from .check import Report

ICON = {
    "pass": "✅",
    "degraded": "⚠️",
    "fail": "❌",
    "inconclusive": "❔",
    "error": "💥",
    "flaky": "🔁",
}


def junit(report: Report, path: str | Path) -> None:
    """One testcase per budget and per probe run; readable by GitHub, GitLab and Jenkins."""
    root = ET.Element("testsuites", name="observer")
    budgets = ET.SubElement(root, "testsuite", name="budgets")
    for v in report.verdicts:
        case = ET.SubElement(budgets, "testcase", classname=f"budgets.{v.source}", name=v.name)
        text = (
            f"{v.metric} {v.threshold}: measured {format_value(v.value, v.unit, v.aggregate)} "
            f"over {v.samples} samples from {', '.join(v.probes)}\n{v.message}"
        )
        if v.outcome == Status.FAIL:
            ET.SubElement(case, "failure", message=v.message, type="budget").text = text
        elif v.outcome == Status.INCONCLUSIVE:
            ET.SubElement(case, "skipped", message=f"inconclusive: {v.message}")
        else:
            ET.SubElement(case, "system-out").text = f"{v.outcome}: {text}"
    probes = ET.SubElement(root, "testsuite", name="probes")
    for r in report.results:
        case = ET.SubElement(
            probes,
            "testcase",
            classname=f"probes.{r.kind}",
            name=r.probe,
            time=f"{r.duration_ms / 1000:.3f}",
        )
        shots = [a.path for a in r.artifacts]
        detail = "\n".join([r.error or "", *(f"artifact: {p}" for p in shots)]).strip()
        if r.outcome == Outcome.FAIL:
            ET.SubElement(case, "failure", message=r.error or "failed", type="probe").text = detail
        elif r.outcome == Outcome.ERROR:
            ET.SubElement(case, "error", message=r.error or "error", type="observer").text = detail
        elif r.flaky:
            ET.SubElement(case, "system-out").text = (
                f"flaky: passed on attempt {r.attempt} after: "
                + "; ".join(f"{a.outcome} ({a.error})" for a in r.retried)
            )
    for suite in (budgets, probes):
        cases = list(suite)
        suite.set("tests", str(len(cases)))
        suite.set("failures", str(sum(1 for c in cases if c.find("failure") is not None)))
        suite.set("errors", str(sum(1 for c in cases if c.find("error") is not None)))
        suite.set("skipped", str(sum(1 for c in cases if c.find("skipped") is not None)))
    for key in ("tests", "failures", "errors", "skipped"):
        root.set(key, str(sum(int(s.get(key, "0")) for s in (budgets, probes))))
    tree = ET.ElementTree(root)
    ET.indent(tree)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    tree.write(path, encoding="utf-8", xml_declaration=True)


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_annotations(report: Report) -> list[str]:
    """Workflow commands: ::error for failures, ::warning for degraded, inconclusive, flaky."""
    lines = []
    for v in report.verdicts:
        level = {"fail": "error", "degraded": "warning", "inconclusive": "warning"}.get(
            str(v.outcome)
        )
        if level:
            title = _escape_property(f"budget {v.outcome}: {v.name}")
            lines.append(f"::{level} title={title}::{_escape_data(v.message)}")
    for r in report.results:
        if r.outcome in (Outcome.FAIL, Outcome.ERROR):
            level = "error"
            title = _escape_property(f"probe {r.outcome}: {r.probe}")
            lines.append(f"::{level} title={title}::{_escape_data(r.error or str(r.outcome))}")
        elif r.flaky:
            title = _escape_property(f"probe flaky: {r.probe}")
            msg = f"passed on attempt {r.attempt}; earlier: {r.retried[0].error}"
            lines.append(f"::warning title={title}::{_escape_data(msg)}")
    return lines


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(report: Report, title: str = "observer check") -> str:
    """A summary fit for a pull-request comment or a GitHub job summary."""
    code = report.exit_code
    head = {0: "passed", 1: "failed", 3: "could not run"}.get(code, "failed")
    counts: dict[str, int] = {}
    for v in report.verdicts:
        counts[str(v.outcome)] = counts.get(str(v.outcome), 0) + 1
    summary = ", ".join(f"{n} {k}" for k, n in counts.items()) or "no budgets"
    lines = [
        f"### {ICON['pass'] if code == 0 else ICON['fail']} {title} {head}",
        "",
        f"Budgets: {summary}.",
    ]
    if report.results:
        outcomes = {
            o: sum(1 for r in report.results if str(r.outcome) == o)
            for o in ("pass", "fail", "error")
        }
        lines.append(
            f"Runs: {outcomes['pass']} passed, {outcomes['fail']} failed, "
            f"{outcomes['error']} errors over {report.runs} rounds"
            + (
                f"; flaky: {', '.join(r.probe for r in report.flaky_runs)}"
                if report.flaky_runs
                else ""
            )
            + "."
        )
    if report.verdicts:
        lines += [
            "",
            "| | budget | metric | measured | threshold | samples | covers |",
            "|---|---|---|---|---|---|---|",
        ]
        for v in report.verdicts:
            lines.append(
                f"| {ICON[str(v.outcome)]} {v.outcome} | {_cell(v.name)} | {_cell(v.metric)} | "
                f"{measured(v)} | {_cell(v.threshold)}"
                f"{' (warn ' + _cell(v.warn) + ')' if v.warn else ''} | {v.samples} | "
                f"{_cell(covers(v))} |"
            )
    bad = [v for v in report.verdicts if v.outcome != Status.PASS]
    failing = [r for r in report.results if r.outcome != Outcome.PASS]
    if bad or failing:
        lines += ["", "<details><summary>What went wrong</summary>", ""]
        for v in bad:
            lines.append(f"- **{_cell(v.name)}** ({v.outcome}): {_cell(v.message)}")
        for r in failing:
            lines.append(f"- probe **{_cell(r.probe)}** {r.outcome}: {_cell(r.error or '')}")
        lines += ["", "</details>"]
    return "\n".join(lines) + "\n"
