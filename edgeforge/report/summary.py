"""Cross-target summary of several builds: one table and one chart (summary.md and summary.html)."""

from __future__ import annotations

import html
import io
import logging
from pathlib import Path
from typing import Any, Mapping, Sequence

from edgeforge._files import write_bytes_atomic, write_text_atomic
from edgeforge.errors import InputError
from edgeforge.report.html import STYLE
from edgeforge.report.plots import PlotFormat, figure_to_html, summary_chart

log = logging.getLogger(__name__)


def summarize_report(report: Mapping[str, Any]) -> dict[str, Any]:
    """Reduce one report to the summary row: target, drop, size, latency (and its kind), budget status.

    Latency is the target's own: measured on a device or estimated by the profile's cost
    model (`target_latency`). Without one, the host measurement is shown with device
    "local (host)", which is not the target's latency.
    """
    target = (report.get("target") or {}).get("name")
    if not target:
        raise InputError("a report has no target name (report['target']['name']); pass report.json dictionaries")
    latency_entries = [entry for entry in report.get("latency") or [] if entry.get("artifact") == "artifact"]
    measured = [entry for entry in latency_entries if entry.get("kind") == "measured"]
    chosen = report.get("target_latency") or (measured or latency_entries or [None])[0]
    host_only = not report.get("target_latency") and not report.get("target", {}).get("name") == "host"
    budgets = report.get("budgets") or []
    missed = [budget["name"] for budget in budgets if budget.get("value") is not None and not budget.get("passed")]
    artifact_bytes = (report.get("size") or {}).get("artifact_bytes")
    return {
        "target": target,
        "precision": (report.get("recipe") or {}).get("precision"),
        "drop_points": (report.get("accuracy") or {}).get("drop_points"),
        "artifact_kib": None if artifact_bytes is None else artifact_bytes / 1024.0,
        "latency_ms": None if chosen is None else chosen.get("median_ms"),
        "latency_kind": None if chosen is None else chosen.get("kind"),
        "latency_device": _device_text(chosen, host_only),
        "status": report.get("status", "passed" if not missed else "budget_missed"),
        "missed_budgets": missed,
    }


def _device_text(record: Mapping[str, Any] | None, host_only: bool) -> str | None:
    if record is None:
        return None
    device = str(record.get("device"))
    if host_only:
        device += " (host)"
    return device


def _text(value: Any, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def _latency_text(row: Mapping[str, Any]) -> str:
    text = _text(row["latency_ms"])
    if row["latency_kind"] == "estimated":
        text += " (estimate)"
    return text


def render_markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    """Return the summary as a Markdown table."""
    lines = [
        "# edgeforge cross-target summary",
        "",
        "| Target | Precision | Accuracy drop (points) | Artifact size (KiB) | Latency median (ms) | Device | Status | Missed budgets |",
        "|---|---|---:|---:|---:|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['target']} | {_text(row['precision'])} | {_text(row['drop_points'])} | {_text(row['artifact_kib'])} | "
            f"{_latency_text(row)} | {_text(row['latency_device'])} | {row['status']} | {', '.join(row['missed_budgets']) or '-'} |"
        )
    lines.append("")
    if any(row["latency_kind"] == "estimated" for row in rows):
        lines += ["Latency marked (estimate) was estimated from the target profile, not measured.", ""]
    if any(str(row["latency_device"]).endswith("(host)") for row in rows):
        lines += ["Device 'local (host)' is this machine's latency, not the target's: no device or cost model was "
                  "given for those targets.", ""]
    return "\n".join(lines)


def write_summary(reports: Sequence[Mapping[str, Any]], out_dir: str | Path, *, plot_format: PlotFormat = "png") -> dict[str, Path]:
    """Write summary.md, summary.html (table and embedded chart) and summary.png into `out_dir`.

    Rows are sorted by target name, so the output does not depend on the order builds finished.
    Returns {"markdown", "html", "plot"} paths.
    """
    if not reports:
        raise InputError("no reports to summarize; build at least one target first")
    rows = sorted((summarize_report(report) for report in reports), key=lambda row: row["target"])
    names = [row["target"] for row in rows]
    if len(set(names)) != len(names):
        duplicates = sorted({name for name in names if names.count(name) > 1})
        raise InputError(f"several reports for the same target: {', '.join(duplicates)}; pass one report per target")

    figure = summary_chart(
        names,
        [row["drop_points"] for row in rows],
        [row["artifact_kib"] for row in rows],
        [row["latency_ms"] for row in rows],
        [row["latency_kind"] == "estimated" for row in rows],
        [row["status"] == "passed" for row in rows],
    )
    out = Path(out_dir)
    markdown = render_markdown(rows)
    table_rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(cell)}</td>"
            for cell in (row["target"], _text(row["precision"]), _text(row["drop_points"]), _text(row["artifact_kib"]),
                         _latency_text(row), _text(row["latency_device"]))
        )
        + f'<td class="{"pass" if row["status"] == "passed" else "fail"}">{html.escape(row["status"])}</td>'
        + f"<td>{html.escape(', '.join(row['missed_budgets']) or '-')}</td></tr>"
        for row in rows
    )
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>edgeforge summary</title>'
        f"<style>{STYLE}</style></head><body><h1>edgeforge cross-target summary</h1>"
        "<table><thead><tr><th>Target</th><th>Precision</th><th>Accuracy drop (points)</th><th>Artifact size (KiB)</th>"
        "<th>Latency median (ms)</th><th>Device</th><th>Status</th><th>Missed budgets</th></tr></thead>"
        f"<tbody>{table_rows}</tbody></table>"
        + figure_to_html(figure, alt="accuracy drop, size and latency per target", plot_format=plot_format)
        + "<p>Hatched bars and latency marked (estimate) are estimates from the target profile, not measurements.</p>"
        "</body></html>\n"
    )
    png = io.BytesIO()
    figure.savefig(png, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    paths = {
        "markdown": write_text_atomic(out / "summary.md", markdown),
        "html": write_text_atomic(out / "summary.html", page),
        "plot": write_bytes_atomic(out / "summary.png", png.getvalue()),
    }
    log.info("wrote cross-target summary of %d targets to %s", len(rows), out)
    return paths
