"""JUnit XML output of budgets, parsed back with xml.etree."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree

import pytest

from edgeforge.errors import InputError
from edgeforge.report.junit import write_junit
from sample_reports import sample_report


def parse_cases(path):
    root = ElementTree.parse(path).getroot()
    suite = root.find("testsuite")
    return root, suite, {case.get("name"): case for case in suite.findall("testcase")}


def test_junit_passing_budgets(tmp_path):
    path = write_junit(sample_report(), tmp_path / "junit.xml")
    root, suite, cases = parse_cases(path)

    assert root.tag == "testsuites"
    assert suite.get("name") == "edgeforge.budgets.cortex-m4"
    assert suite.get("tests") == "4"
    assert suite.get("failures") == "0"
    assert suite.get("skipped") == "1"
    assert set(cases) == {"max_accuracy_drop", "max_latency_ms", "max_size_kib", "max_ram_kib"}
    assert cases["max_accuracy_drop"].find("failure") is None
    assert cases["max_ram_kib"].find("skipped") is not None


def test_junit_missed_budget_has_failure(tmp_path):
    path = write_junit(sample_report(passed=False, latency_ms=10.0), tmp_path / "junit.xml")
    _, suite, cases = parse_cases(path)
    failure = cases["max_latency_ms"].find("failure")

    assert suite.get("failures") == "1"
    assert failure is not None
    assert failure.get("message") == "max_latency_ms missed: value 300 ms, limit 100 ms (estimated)"
    assert failure.get("type") == "BudgetMissed"
    assert cases["max_size_kib"].find("failure") is None


def test_junit_rejects_report_without_budgets(tmp_path):
    report = sample_report()
    del report["budgets"]
    with pytest.raises(InputError, match=r"report has no budgets list"):
        write_junit(report, tmp_path / "junit.xml")
    assert not (tmp_path / "junit.xml").exists()


def test_junit_rejects_budget_without_limit(tmp_path):
    report = sample_report()
    del report["budgets"][0]["limit"]
    with pytest.raises(InputError, match=r"budget 0 has no 'limit' field"):
        write_junit(report, tmp_path / "junit.xml")
