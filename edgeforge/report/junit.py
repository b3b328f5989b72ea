"""Write a build's budgets as JUnit XML test cases, the format CI dashboards read.

Each budget in `report["budgets"]` becomes one `<testcase>`. A missed budget gets a `<failure>` with its
value and limit, and a budget with no value (not measured) is `<skipped>`.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Any, Mapping

from edgeforge._files import write_bytes_atomic
from edgeforge.errors import InputError


def _format_number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _budget_text(budget: Mapping[str, Any]) -> str:
    unit = f" {budget['unit']}" if budget.get("unit") else ""
    basis = f" ({budget['basis']})" if budget.get("basis") else ""
    return f"value {_format_number(budget['value'])}{unit}, limit {_format_number(budget['limit'])}{unit}{basis}"


def build_junit_tree(report: Mapping[str, Any]) -> ElementTree.ElementTree:
    """Return the JUnit XML tree for the budgets of one report."""
    budgets = report.get("budgets")
    if not isinstance(budgets, list):
        raise InputError(f"report has no budgets list (found {type(budgets).__name__}); expected report['budgets'] = [...]")
    target = (report.get("target") or {}).get("name", "unknown-target")
    suite_name = f"edgeforge.budgets.{target}"

    suites = ElementTree.Element("testsuites", {"name": "edgeforge"})
    suite = ElementTree.SubElement(suites, "testsuite", {"name": suite_name, "timestamp": str(report.get("created", ""))})
    failures = skipped = 0
    for index, budget in enumerate(budgets):
        for key in ("name", "limit", "passed"):
            if key not in budget:
                raise InputError(f"budget {index} has no '{key}' field: {budget!r}; expected name, value, limit, unit, passed")
        case = ElementTree.SubElement(suite, "testcase", {"classname": suite_name, "name": str(budget["name"]), "time": "0"})
        if budget.get("value") is None:
            skipped += 1
            ElementTree.SubElement(case, "skipped", {"message": f"{budget['name']} was not measured"})
        elif not budget["passed"]:
            failures += 1
            failure = ElementTree.SubElement(
                case, "failure", {"message": f"{budget['name']} missed: {_budget_text(budget)}", "type": "BudgetMissed"}
            )
            failure.text = _budget_text(budget)
        ElementTree.SubElement(case, "system-out").text = _budget_text(budget)

    counts = {"tests": str(len(budgets)), "failures": str(failures), "errors": "0", "skipped": str(skipped)}
    suite.attrib.update(counts)
    suites.attrib.update({key: counts[key] for key in ("tests", "failures", "errors")})
    return ElementTree.ElementTree(suites)


def write_junit(report: Mapping[str, Any], path: str | Path) -> Path:
    """Write the budgets of `report` as JUnit XML to `path` (atomically) and return the path."""
    tree = build_junit_tree(report)
    ElementTree.indent(tree)
    data = ElementTree.tostring(tree.getroot(), encoding="utf-8", xml_declaration=True)
    return write_bytes_atomic(path, data + b"\n")
