"""Self-contained HTML report of one build: charts embedded in the file, no external resources.

Reads the report.json dictionary. Besides the planned keys it draws these optional sections:
- `op_latency`: [{"op", "count", "total_ms", "kind": "measured" | "estimated"}], per-operator time;
- `sensitivity`: [{"layer", "metric", "value"}], per-layer sensitivity (higher is more sensitive);
- `compatibility`: [{"severity", "operator", "message", "fix"}], target compatibility findings;
- `robustness`: the dictionary `edgeforge.validate.robustness.evaluate_robustness` returns.
Every estimated figure (latency, budgets with basis "estimated") is labelled as an estimate.
"""

from __future__ import annotations

import html
import logging
from pathlib import Path
from typing import Any, Mapping

from edgeforge._files import write_text_atomic
from edgeforge.errors import InputError
from edgeforge.report.plots import PlotFormat, bar_chart, figure_to_html, grouped_bar_chart

log = logging.getLogger(__name__)

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 60em; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 0.6em 0; } th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
th { background: #f3f3f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.pass { color: #2e7d32; font-weight: 600; } .fail { color: #c62828; font-weight: 600; }
.estimate { background: #fff3cd; border-radius: 3px; padding: 0 0.3em; font-size: 0.85em; }
.status { display: inline-block; padding: 0.2em 0.6em; border-radius: 4px; color: white; }
.status.passed { background: #2e7d32; } .status.budget_missed { background: #c62828; }
figure.plot { margin: 0.6em 0; } figure.plot img, figure.plot svg { max-width: 100%; height: auto; }
.meta { color: #555; }
"""

ESTIMATE_TAG = '<span class="estimate">estimate</span>'


def _escape(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _number(value: Any, digits: int = 4) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return _escape(value)


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{_escape(header)}</th>" for header in headers)
    body = "".join("<tr>" + "".join(cell for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(value: Any, *, numeric: bool = False, raw: bool = False) -> str:
    if raw:
        content = value
    elif numeric:
        content = _number(value)
    else:
        content = _escape(value)
    return f'<td class="num">{content}</td>' if numeric else f"<td>{content}</td>"


def _header_section(report: Mapping[str, Any]) -> str:
    target = report.get("target") or {}
    model = report.get("model") or {}
    recipe = report.get("recipe") or {}
    status = str(report.get("status", "unknown"))
    label = {"passed": "all budgets met", "budget_missed": "budget missed"}.get(status, status)
    return (
        f"<h1>edgeforge build: {_escape(target.get('name', 'unknown target'))}</h1>"
        f'<p><span class="status {_escape(status)}">{_escape(label)}</span></p>'
        f'<p class="meta">Model {_escape(model.get("path"))} ({_escape(model.get("format"))}, '
        f'{_escape(model.get("parameters"))} parameters); recipe {_escape(recipe.get("name"))} '
        f'({_escape(recipe.get("precision"))}); runtime {_escape(target.get("runtime"))}, '
        f'format {_escape(target.get("artifact_format"))}; created {_escape(report.get("created"))} '
        f'by edgeforge {_escape(report.get("edgeforge_version"))}.</p>'
    )


def _budget_section(report: Mapping[str, Any]) -> str:
    budgets = report.get("budgets") or []
    if not budgets:
        return "<h2>Budgets</h2><p>No budgets were set for this build.</p>"
    rows = []
    for budget in budgets:
        if budget.get("value") is None:
            verdict = '<td>not measured</td>'
        elif budget.get("passed"):
            verdict = '<td class="pass">pass</td>'
        else:
            verdict = '<td class="fail">FAIL</td>'
        basis = _escape(budget.get("basis"))
        if budget.get("basis") == "estimated":
            basis = f"{basis} {ESTIMATE_TAG}"
        rows.append([_cell(budget.get("name")), _cell(budget.get("value"), numeric=True),
                     _cell(budget.get("limit"), numeric=True), _cell(budget.get("unit")), verdict, _cell(basis, raw=True)])
    return "<h2>Budgets</h2>" + _table(["Budget", "Value", "Limit", "Unit", "Result", "Basis"], rows)


def _comparison_section(report: Mapping[str, Any], plot_format: PlotFormat) -> str:
    parts = ["<h2>Original, float conversion and artifact</h2>"]
    accuracy = report.get("accuracy") or {}
    labels, values = [], []
    for key, label in (("baseline", "original"), ("float_reference", "float conversion"), ("artifact", "artifact")):
        top1 = (accuracy.get(key) or {}).get("top1")
        if top1 is not None:
            labels.append(label)
            values.append(100.0 * top1)
    if values:
        figure = bar_chart(labels, values, title="Top-1 accuracy", ylabel="%")
        parts.append(figure_to_html(figure, alt="accuracy chart", plot_format=plot_format))
        if accuracy.get("drop_points") is not None:
            parts.append(f"<p>Accuracy drop of the artifact: {_number(accuracy['drop_points'])} points.</p>")

    size = report.get("size") or {}
    size_labels, size_values = [], []
    original_bytes = (report.get("model") or {}).get("size_bytes")
    for value, label in ((original_bytes, "original"), (size.get("float_bytes"), "float conversion"),
                         (size.get("artifact_bytes"), "artifact")):
        if value is not None:
            size_labels.append(label)
            size_values.append(value / 1024.0)
    if size_values:
        figure = bar_chart(size_labels, size_values, title="Model size", ylabel="KiB")
        parts.append(figure_to_html(figure, alt="size chart", plot_format=plot_format))

    latency = report.get("latency") or []
    if latency:
        names = {"artifact": "artifact", "float-reference": "float conversion", "baseline": "original"}
        lat_labels = [
            f"{names.get(entry.get('artifact'), entry.get('artifact'))} @ {entry.get('device', '?')}"
            + (f" ({entry['precision_hint']})" if entry.get("precision_hint") else "")
            for entry in latency
        ]
        lat_values = [float(entry.get("median_ms") or 0.0) for entry in latency]
        estimated = [entry.get("kind") == "estimated" for entry in latency]
        figure = bar_chart(lat_labels, lat_values, title="Latency (median)", ylabel="ms", estimated=estimated, horizontal=True)
        parts.append(figure_to_html(figure, alt="latency chart", plot_format=plot_format))
        rows = []
        for entry, label in zip(latency, lat_labels):
            kind = _escape(entry.get("kind"))
            if entry.get("kind") == "estimated":
                kind = f"{kind} {ESTIMATE_TAG}"
            rows.append([_cell(label), _cell(kind, raw=True), _cell(entry.get("runtime")), _cell(entry.get("threads"), numeric=True),
                         _cell(entry.get("runs"), numeric=True), _cell(entry.get("median_ms"), numeric=True),
                         _cell(entry.get("p90_ms"), numeric=True), _cell(entry.get("std_ms"), numeric=True)])
        parts.append(_table(["Model @ device", "Kind", "Runtime", "Threads", "Runs", "Median ms", "P90 ms", "Std ms"], rows))
    return "".join(parts)


def _op_latency_section(report: Mapping[str, Any], plot_format: PlotFormat) -> str:
    entries = report.get("op_latency") or []
    if not entries:
        return ""
    ordered = sorted(entries, key=lambda entry: -float(entry.get("total_ms") or 0.0))
    estimated = [entry.get("kind") == "estimated" for entry in ordered]
    figure = bar_chart([str(entry.get("op")) for entry in ordered], [float(entry.get("total_ms") or 0.0) for entry in ordered],
                       title="Time per operator type", ylabel="ms", estimated=estimated, horizontal=True)
    total = sum(float(entry.get("total_ms") or 0.0) for entry in ordered) or 1.0
    rows = [[_cell(entry.get("op")), _cell(entry.get("count"), numeric=True), _cell(entry.get("total_ms"), numeric=True),
             _cell(f"{100.0 * float(entry.get('total_ms') or 0.0) / total:.1f}", numeric=True),
             _cell(f"{_escape(entry.get('kind'))} {ESTIMATE_TAG}" if flag else _escape(entry.get("kind")), raw=True)]
            for entry, flag in zip(ordered, estimated)]
    return ("<h2>Per-operator latency</h2>" + figure_to_html(figure, alt="per-operator latency chart", plot_format=plot_format)
            + _table(["Operator", "Count", "Total ms", "Share %", "Kind"], rows))


def _sensitivity_section(report: Mapping[str, Any], plot_format: PlotFormat) -> str:
    entries = report.get("sensitivity") or []
    if not entries:
        return ""
    metric = entries[0].get("metric", "sensitivity")
    figure = bar_chart([str(entry.get("layer")) for entry in entries], [float(entry.get("value") or 0.0) for entry in entries],
                       title="Per-layer sensitivity", ylabel=str(metric), horizontal=True)
    return "<h2>Per-layer sensitivity</h2>" + figure_to_html(figure, alt="per-layer sensitivity chart", plot_format=plot_format)


def _robustness_section(report: Mapping[str, Any], plot_format: PlotFormat) -> str:
    robustness = report.get("robustness") or {}
    rows_in = robustness.get("perturbations") or []
    if not rows_in:
        return ""
    names = [str(row["name"]) for row in rows_in]
    figure = grouped_bar_chart(
        names,
        {"original": [100.0 * row["original_top1"] for row in rows_in], "artifact": [100.0 * row["artifact_top1"] for row in rows_in]},
        title="Accuracy under perturbations", ylabel="top-1 %",
    )
    rows = [[_cell(row["name"]), _cell(100.0 * row["original_top1"], numeric=True), _cell(100.0 * row["artifact_top1"], numeric=True),
             _cell(row["gap_points"], numeric=True)] for row in rows_in]
    return (f"<h2>Robustness</h2><p>Seed {_escape(robustness.get('seed'))}, {_escape(robustness.get('samples'))} samples; "
            f"largest gap {_number(robustness.get('max_gap_points'))} points ({_escape(robustness.get('worst_perturbation'))}).</p>"
            + figure_to_html(figure, alt="robustness chart", plot_format=plot_format)
            + _table(["Perturbation", "Original top-1 %", "Artifact top-1 %", "Gap (points)"], rows))


def _compatibility_section(report: Mapping[str, Any]) -> str:
    findings = report.get("compatibility")
    if isinstance(findings, Mapping):
        findings = findings.get("findings")
    if not findings:
        return ""
    rows = [[_cell(item.get("severity")), _cell(item.get("operator") or item.get("op_type")),
             _cell(item.get("message")), _cell(item.get("fix"))]
            for item in findings]
    return "<h2>Compatibility findings</h2>" + _table(["Severity", "Operator", "Finding", "What to change"], rows)


def _passes_section(report: Mapping[str, Any]) -> str:
    passes = report.get("passes") or []
    if not passes:
        return ""
    rows = []
    for item in passes:
        params = ", ".join(f"{key}={value}" for key, value in (item.get("params") or {}).items())
        changes = item.get("changes") or {}
        shown = ", ".join(f"{key}={value}" for key, value in changes.items()
                          if not isinstance(value, (dict, list)))
        rows.append([_cell(item.get("name")), _cell(params), _cell(shown), _cell(item.get("wall_s"), numeric=True),
                     _cell("; ".join(item.get("notes") or []))])
    return "<h2>Passes</h2>" + _table(["Pass", "Parameters", "Changes", "Wall time s", "Notes"], rows)


def _notes_section(report: Mapping[str, Any]) -> str:
    """List the warnings about data, model reading and skipped passes that the build recorded."""
    notes = list(((report.get("data") or {}).get("calibration") or {}).get("notes") or [])
    notes += list((report.get("model") or {}).get("notes") or [])
    notes += list(report.get("pass_notes") or [])
    if not notes:
        return ""
    return "<h2>Notes</h2><ul>" + "".join(f"<li>{_escape(note)}</li>" for note in notes) + "</ul>"


def _firmware_section(report: Mapping[str, Any]) -> str:
    firmware = report.get("firmware")
    if not firmware:
        return ""
    rows = [
        [_cell("files"), _cell(", ".join(firmware.get("files", [])))],
        [_cell("array"), _cell(f"{firmware.get('symbol')} ({firmware.get('length')} bytes)")],
        [_cell("tensor arena"), _cell(f"{firmware.get('arena_bytes')} bytes ({firmware.get('arena_basis')})")],
        [_cell("operators to register"),
         _cell(", ".join(op.get("resolver_method") or op.get("name") for op in firmware.get("operators", [])))],
    ]
    return "<h2>Firmware sources</h2>" + _table(["Item", "Value"], rows)


def _environment_section(report: Mapping[str, Any]) -> str:
    environment = report.get("environment") or {}
    if not environment:
        return ""
    flat = {key: value for key, value in environment.items() if not isinstance(value, Mapping)}
    flat.update(environment.get("versions") or {})
    rows = [[_cell(key), _cell(value)] for key, value in flat.items()]
    return "<h2>Environment</h2>" + _table(["Component", "Version"], rows)


def render_html_report(report: Mapping[str, Any], *, plot_format: PlotFormat = "png") -> str:
    """Return the HTML text of the report for one build."""
    if not isinstance(report, Mapping):
        raise InputError(f"report must be a dict loaded from report.json, got {type(report).__name__}")
    if plot_format not in ("png", "svg"):
        raise InputError(f"invalid plot_format {plot_format!r}: expected 'png' or 'svg'")
    target = (report.get("target") or {}).get("name", "build")
    body = "".join(
        [
            _header_section(report),
            _budget_section(report),
            _notes_section(report),
            _comparison_section(report, plot_format),
            _op_latency_section(report, plot_format),
            _sensitivity_section(report, plot_format),
            _robustness_section(report, plot_format),
            _compatibility_section(report),
            _firmware_section(report),
            _passes_section(report),
            _environment_section(report),
        ]
    )
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>edgeforge report: {_escape(target)}</title><style>{STYLE}</style></head>"
        f"<body>{body}</body></html>\n"
    )


def write_html_report(report: Mapping[str, Any], out_path: str | Path, *, plot_format: PlotFormat = "png") -> Path:
    """Write the self-contained HTML report of one build to `out_path` (atomically) and return the path."""
    path = write_text_atomic(out_path, render_html_report(report, plot_format=plot_format))
    log.debug("wrote HTML report %s", path)
    return path
