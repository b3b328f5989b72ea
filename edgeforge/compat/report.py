"""Compatibility report: an operator-by-operator log and the findings against a target profile."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Finding:
    """One problem: which rule, on which operator, and what to change. `severity` is "error" or "warning"."""

    rule: str
    severity: str
    message: str
    fix: str
    op_index: int | None = None
    op_type: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        where = f"op #{self.op_index} {self.op_type}: " if self.op_index is not None else ""
        return f"[{self.severity}] {self.rule}: {where}{self.message}; fix: {self.fix}"


@dataclass
class OpLogEntry:
    """One operator in the log; `placement` is "accelerator", "cpu" or "device" (targets with one engine)."""

    index: int
    op_type: str
    version: int | None
    precision: str
    placement: str
    problems: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        return "ok" if not self.problems else "; ".join(self.problems)


@dataclass
class CompatReport:
    """Result of `check_artifact`. `passed` is True when no finding is an error."""

    target: str
    artifact: str
    artifact_format: str
    ops: list[OpLogEntry] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not any(f.severity == "error" for f in self.findings)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    def rules_broken(self) -> set[str]:
        return {f.rule for f in self.findings}

    def add(self, finding: Finding) -> None:
        self.findings.append(finding)
        if finding.op_index is not None:
            for entry in self.ops:
                if entry.index == finding.op_index:
                    entry.problems.append(finding.rule)
                    break

    def log_lines(self) -> list[str]:
        """Return the operator-by-operator log, one line per operator, then the findings and the summary."""
        lines = [f"compatibility of {self.artifact} with target {self.target}:"]
        for entry in self.ops:
            version = f" v{entry.version}" if entry.version is not None else ""
            lines.append(f"  #{entry.index:<4d} {entry.op_type + version:<28s} {entry.precision:<8s} "
                         f"{entry.placement:<12s} {entry.status}")
        for finding in self.findings:
            lines.append(str(finding))
        for key, value in self.summary.items():
            lines.append(f"  {key}: {value}")
        lines.append("result: " + ("compatible" if self.passed else f"{len(self.errors)} error(s)"))
        return lines

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target, "artifact": self.artifact, "artifact_format": self.artifact_format,
            "passed": self.passed,
            "ops": [{"index": e.index, "op_type": e.op_type, "version": e.version, "precision": e.precision,
                     "placement": e.placement, "problems": list(e.problems)} for e in self.ops],
            "findings": [f.as_dict() for f in self.findings],
            "summary": dict(self.summary),
        }
