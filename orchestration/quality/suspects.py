"""Validating a suite on the rows that can break it, found by DuckDB, instead of on every row.

A suite of per-row expectations fails on a table exactly when it fails on the rows it would flag, with the same
rows in its report. So the gate and the export contract ask DuckDB for a superset of those rows (the suspects)
and give GX only them: reading and validating 753k customers took 3.6 s at 1M persons, the suspects 0.8 s
(docs/performance.md, section V). Two things keep that exact, and live here:

- the suspect conditions are written for the suites as they are: `require_covered` refuses a suite holding an
  expectation its query was not written for, naming it, rather than validating rows chosen for other
  expectations;
- DuckDB's regular expressions (RE2) are not Python's, which GX uses: RE2's `\\s` is ASCII whitespace only and
  its `$` does not match before a final newline. `address_suspect` therefore also selects any address holding
  a character outside printable ASCII (33-126: no space, no control, no non-breaking space), and GX decides.
"""

from __future__ import annotations

import json
from typing import Any, Callable


class SuiteNotCoveredError(RuntimeError):
    """A suite holds an expectation its suspect query was not written for."""


def address_suspect(column: str, regex_parameter: str) -> str:
    """SQL: ``column`` is set and may fail the suite's regular expression (passed as ``$regex_parameter``)."""
    return (f"({column} is not null and (not regexp_full_match({column}, ${regex_parameter}) "
            f"or regexp_matches({column}, '[^!-~]')))")


def signature(expectation_type: str, kwargs: dict[str, Any]) -> str:
    """An expectation's type and arguments, but its regular expression (the queries read that from the suite)."""
    return json.dumps([expectation_type, {k: v for k, v in kwargs.items() if k != "regex"}], sort_keys=True)


def require_covered(suite: Any, is_covered: Callable[[str, dict[str, Any]], bool], query: str, where: str) -> None:
    """Raises SuiteNotCoveredError naming the first expectation of ``suite`` that ``query`` (defined in
    ``where``) selects no suspects for; ``is_covered(type, kwargs)`` says which it does."""
    for expectation in suite.expectations:
        config = expectation.configuration
        kwargs = dict(config.kwargs)
        if not is_covered(config.type, kwargs):
            raise SuiteNotCoveredError(
                f"expectations/suites.py: {suite.name} has {config.type}({kwargs}), which {query} does not "
                f"select suspect rows for. Add a condition for it to {query} in {where} and list it there as "
                f"covered (or remove it from the suite)."
            )


def suite_regexes(suite: Any) -> dict[str, str]:
    """The suite's regular expression per column."""
    return {expectation.configuration.kwargs["column"]: expectation.configuration.kwargs["regex"]
            for expectation in suite.expectations if "regex" in expectation.configuration.kwargs}
