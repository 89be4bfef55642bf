"""What a gate validation returns: pass/fail, the expectations that failed, and metadata for people."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class FailedExpectation:
    suite: str
    expectation: str  # GX expectation type, e.g. expect_column_values_to_be_between
    description: str  # what it checks, in words
    column: str | None = None
    unexpected_count: int | None = None
    element_count: int | None = None
    sample: list[Any] = field(default_factory=list)  # a few failing values or rows
    exception: str | None = None  # when the expectation could not be evaluated (e.g. a missing column)
    condition_column: str | None = None  # the column of the expectation's row condition, when it has one

    def summary(self) -> str:
        counted = ""
        if self.unexpected_count is not None and self.element_count is not None:
            counted = f" ({self.unexpected_count} of {self.element_count} rows)"
        elif self.exception:
            counted = f" (could not evaluate: {self.exception.splitlines()[0][:200]})"
        return f"[{self.suite}] {self.description}{counted}"


@dataclass
class GateResult:
    """The outcome of one gate validation (one or more GX suites on one subject).

    passed: every expectation held. failed_expectations: the ones that did not, with counts and samples.
    description: one line a person can act on ("2026-11-19 erp amount differs by +1.52% (tolerance 1%)").
    metadata: figures for the Dagster UI and the failure report (JSON-serialisable; markdown tables as str).
    """

    name: str
    passed: bool
    description: str
    failed_expectations: list[FailedExpectation] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    evaluated_expectations: int = 0
    data_docs: str | None = None  # path of the Data Docs index (local site)
    data_docs_pages: list[str] = field(default_factory=list)  # the pages of this result's validations

    def __bool__(self) -> bool:
        return self.passed

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "passed": self.passed,
            "description": self.description,
            "evaluated_expectations": self.evaluated_expectations,
            "failed_expectations": [asdict(failed) for failed in self.failed_expectations],
            "metadata": self.metadata,
            "data_docs": self.data_docs,
            "data_docs_pages": self.data_docs_pages,
        }
