"""Matplotlib charts for the HTML reports, rendered without pyplot so no GUI backend is involved.

`matplotlib.figure.Figure` draws through the Agg canvas when saved, so these functions are safe in
worker processes and parallel builds. Each chart function returns a Figure; `figure_to_html` embeds
it as a base64 PNG `<img>` or an inline `<svg>`.
"""

from __future__ import annotations

import base64
import html
import io
from typing import Literal, Sequence

import matplotlib
from matplotlib.figure import Figure

PlotFormat = Literal["png", "svg"]

PASS_COLOR = "#2e7d32"
FAIL_COLOR = "#c62828"
NEUTRAL_COLOR = "#1565c0"
ESTIMATE_HATCH = "//"


def figure_to_html(figure: Figure, *, alt: str, plot_format: PlotFormat = "png") -> str:
    """Return the figure as a self-contained HTML element: a data-URI PNG image or inline SVG."""
    buffer = io.BytesIO()
    if plot_format == "svg":
        # A fixed hash salt keeps the SVG element ids, and so the report bytes, equal between runs.
        with matplotlib.rc_context({"svg.hashsalt": "edgeforge"}):
            figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
        svg = buffer.getvalue().decode("utf-8")
        svg = svg[svg.index("<svg") :]  # drop the XML prolog and doctype, invalid inside HTML
        return f'<figure class="plot" role="img" aria-label="{html.escape(alt)}">{svg}</figure>'
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<figure class="plot"><img alt="{html.escape(alt)}" src="data:image/png;base64,{encoded}"></figure>'


def bar_chart(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    title: str,
    ylabel: str,
    estimated: Sequence[bool] | None = None,
    colors: Sequence[str] | None = None,
    horizontal: bool = False,
) -> Figure:
    """Draw one bar per label; estimated bars are hatched and their labels end with '(estimate)'."""
    estimated = list(estimated) if estimated is not None else [False] * len(labels)
    shown = [f"{label}\n(estimate)" if flag else label for label, flag in zip(labels, estimated)]
    height = max(2.6, 0.45 * len(labels) + 1.2) if horizontal else 3.2
    figure = Figure(figsize=(6.0, height))
    axes = figure.add_subplot()
    bar_colors = list(colors) if colors is not None else [NEUTRAL_COLOR] * len(labels)
    positions = range(len(labels))
    if horizontal:
        bars = axes.barh(positions, values, color=bar_colors)
        axes.set_yticks(list(positions), shown)
        axes.invert_yaxis()
        axes.set_xlabel(ylabel)
    else:
        bars = axes.bar(positions, values, color=bar_colors)
        axes.set_xticks(list(positions), shown)
        axes.set_ylabel(ylabel)
    for bar, flag in zip(bars, estimated):
        if flag:
            bar.set_hatch(ESTIMATE_HATCH)
            bar.set_alpha(0.6)
    axes.bar_label(bars, fmt="%.3g", padding=2, fontsize=8)
    axes.set_title(title)
    axes.margins(x=0.15) if horizontal else axes.margins(y=0.15)
    figure.tight_layout()
    return figure


def grouped_bar_chart(
    groups: Sequence[str],
    series: dict[str, Sequence[float]],
    *,
    title: str,
    ylabel: str,
) -> Figure:
    """Draw side-by-side bars, one color per series, for each group."""
    figure = Figure(figsize=(max(6.0, 1.1 * len(groups) + 2), 3.4))
    axes = figure.add_subplot()
    width = 0.8 / max(len(series), 1)
    for index, (name, values) in enumerate(series.items()):
        offsets = [position + (index - (len(series) - 1) / 2) * width for position in range(len(groups))]
        axes.bar(offsets, values, width=width, label=name)
    axes.set_xticks(list(range(len(groups))), list(groups), rotation=20, ha="right")
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    axes.legend(fontsize=8)
    figure.tight_layout()
    return figure


def summary_chart(
    targets: Sequence[str],
    drops: Sequence[float | None],
    sizes_kib: Sequence[float | None],
    latencies_ms: Sequence[float | None],
    latency_estimated: Sequence[bool],
    passed: Sequence[bool],
) -> Figure:
    """Draw accuracy drop, artifact size and latency per target; bar color is the budget status."""
    figure = Figure(figsize=(max(8.0, 1.2 * len(targets) * 3), 3.6))
    colors = [PASS_COLOR if ok else FAIL_COLOR for ok in passed]
    panels = (
        ("Accuracy drop", "points", drops, [False] * len(targets)),
        ("Artifact size", "KiB", sizes_kib, [False] * len(targets)),
        ("Latency (median)", "ms", latencies_ms, list(latency_estimated)),
    )
    for index, (title, unit, values, estimated) in enumerate(panels, start=1):
        axes = figure.add_subplot(1, 3, index)
        heights = [0.0 if value is None else value for value in values]
        bars = axes.bar(range(len(targets)), heights, color=colors)
        for bar, flag, value in zip(bars, estimated, values):
            if flag:
                bar.set_hatch(ESTIMATE_HATCH)
                bar.set_alpha(0.6)
            if value is None:
                bar.set_alpha(0.0)
        axes.bar_label(bars, labels=["n/a" if value is None else f"{value:.3g}" for value in values], fontsize=7, padding=2)
        axes.set_xticks(list(range(len(targets))), list(targets), rotation=30, ha="right", fontsize=8)
        axes.set_title(title)
        axes.set_ylabel(unit)
        axes.margins(y=0.18)
    from matplotlib.patches import Patch

    figure.legend(
        handles=[Patch(color=PASS_COLOR, label="budgets met"), Patch(color=FAIL_COLOR, label="budget missed"),
                 Patch(facecolor="white", edgecolor="black", hatch=ESTIMATE_HATCH, label="estimate")],
        loc="upper center", ncol=3, fontsize=8, bbox_to_anchor=(0.5, 1.08),
    )
    figure.tight_layout()
    return figure
