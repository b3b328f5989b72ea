"""HTML report and cross-target summary: embedded charts, labels, escaping and determinism."""

from __future__ import annotations

import base64
import io
import re

import pytest
from PIL import Image

from edgeforge.errors import InputError
from edgeforge.report.html import render_html_report, write_html_report
from edgeforge.report.summary import write_summary
from sample_reports import rich_report, sample_report

PNG_DATA = re.compile(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


def decode_pngs(text):
    images = []
    for encoded in PNG_DATA.findall(text):
        image = Image.open(io.BytesIO(base64.b64decode(encoded)))
        image.load()
        images.append(image)
    return images


def test_html_report_embeds_plots(tmp_path):
    path = write_html_report(sample_report(), tmp_path / "report.html")
    text = path.read_text()
    images = decode_pngs(text)

    assert len(images) == 3  # accuracy, size, latency
    assert all(image.format == "PNG" and image.width > 200 for image in images)
    assert 'alt="accuracy chart"' in text
    assert 'alt="latency chart"' in text


def test_html_report_is_self_contained(tmp_path):
    text = write_html_report(rich_report(), tmp_path / "report.html").read_text()

    assert not re.search(r'(src|href)="(https?:)?//', text)
    assert "<script" not in text
    assert "<link" not in text


def test_html_report_optional_sections(tmp_path):
    text = write_html_report(rich_report(), tmp_path / "report.html").read_text()
    plain = render_html_report(sample_report())

    assert len(decode_pngs(text)) == 6
    for heading in ("Per-operator latency", "Per-layer sensitivity", "Robustness", "Compatibility findings"):
        assert f"<h2>{heading}</h2>" in text
        assert f"<h2>{heading}</h2>" not in plain
    assert "RESIZE_BILINEAR" in text
    assert "keep the layer out of the model or quantize it" in text


def test_html_report_budget_table(tmp_path):
    text = render_html_report(sample_report(passed=False, latency_ms=10.0))
    latency_row = re.search(r"<tr><td>max_latency_ms</td>.*?</tr>", text).group(0)
    size_row = re.search(r"<tr><td>max_size_kib</td>.*?</tr>", text).group(0)
    ram_row = re.search(r"<tr><td>max_ram_kib</td>.*?</tr>", text).group(0)

    assert '<td class="fail">FAIL</td>' in latency_row
    assert '<span class="estimate">estimate</span>' in latency_row
    assert '<td class="pass">pass</td>' in size_row
    assert "not measured" in ram_row
    assert 'class="status budget_missed"' in text


def test_html_report_labels_estimated_latency():
    text = render_html_report(sample_report())
    rows = re.findall(r"<tr><td>[^<]*@[^<]*</td>.*?</tr>", text)
    estimated_rows = [row for row in rows if "estimated" in row]

    assert len(rows) == 3
    assert len(estimated_rows) == 1
    assert '<span class="estimate">estimate</span>' in estimated_rows[0]


def test_html_report_escapes_model_text():
    report = sample_report(target="mcu")
    report["model"]["path"] = "<script>alert(1)</script>.h5"
    text = render_html_report(report)

    assert "<script>alert(1)" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;.h5" in text


def test_html_report_svg_is_inline_and_stable():
    first = render_html_report(rich_report(), plot_format="svg")
    second = render_html_report(rich_report(), plot_format="svg")

    assert first.count("<svg") == 6
    assert "data:image/png" not in first
    assert first == second


def test_html_report_rejects_bad_format():
    with pytest.raises(InputError, match=r"invalid plot_format 'jpg': expected 'png' or 'svg'"):
        render_html_report(sample_report(), plot_format="jpg")


def test_summary_table_and_plot(tmp_path):
    reports = [
        sample_report("rpi4", latency_ms=3.0, drop=0.4),
        sample_report("cortex-m4", latency_ms=10.0, passed=False),
        sample_report("coral", latency_ms=1.0, drop=1.5),
    ]
    paths = write_summary(reports, tmp_path)
    markdown = paths["markdown"].read_text()
    table_rows = [line for line in markdown.splitlines() if line.startswith("| ") and not line.startswith("| Target")]
    page = paths["html"].read_text()
    plot = Image.open(paths["plot"])

    assert [row.split("|")[1].strip() for row in table_rows] == ["coral", "cortex-m4", "rpi4"]
    assert "budget_missed | max_latency_ms" in table_rows[1]
    assert "budget_missed | max_accuracy_drop" in table_rows[0]
    assert "| passed | - |" in table_rows[2]
    assert "(estimate)" not in table_rows[2]  # the measured latency is preferred
    assert len(decode_pngs(page)) == 1
    assert plot.format == "PNG"
    assert plot.width > 600


def test_summary_prefers_measured_then_estimate(tmp_path):
    report = sample_report("mcu")
    report["latency"] = [entry for entry in report["latency"] if entry["kind"] == "estimated"]
    markdown = write_summary([report], tmp_path)["markdown"].read_text()

    assert "375 (estimate)" in markdown


def test_summary_rejects_duplicates_and_empty(tmp_path):
    with pytest.raises(InputError, match=r"several reports for the same target: rpi4"):
        write_summary([sample_report("rpi4"), sample_report("rpi4")], tmp_path)
    with pytest.raises(InputError, match=r"no reports to summarize"):
        write_summary([], tmp_path)
