"""The gate keeps CDP_QUALITY_HISTORY_DAYS of validation results and Data Docs pages, not every night forever,
and its Data Docs cost stays bounded within them: one build per validation session, an index of the newest
CDP_DATA_DOCS_INDEX_RESULTS results."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest

from orchestration.quality.history import (
    DEFAULT_INDEX_RESULTS,
    HISTORY_DAYS_ENV,
    INDEX_RESULTS_ENV,
    HistorySettingError,
    history_days,
    index_results,
    prune_validation_history,
)
from orchestration.settings import data_paths


def validate(root: Path, previous_segment_sizes: dict[str, int] | None = None):
    """The audience suite; with ``previous_segment_sizes`` the segment sizes suite too, in the same session."""
    from orchestration.quality.export_contract import validate_export_audience

    frame = pd.DataFrame({
        "customer_id": [f"c{i}" for i in range(20)], "segment": "rfm",
        "email": [f"person{i}@example.ru" for i in range(20)], "is_email_contactable": True,
    })
    return validate_export_audience(frame, destination="mindbox", channel="email", required_columns=["email"],
                                    previous_segment_sizes=previous_segment_sizes, paths=data_paths(root))


def run_folders(tree: Path) -> list[Path]:
    return sorted(path for path in tree.rglob("*Z") if path.is_dir())


def test_a_validation_deletes_results_and_pages_older_than_the_retention(tmp_path, monkeypatch):
    monkeypatch.setenv(HISTORY_DAYS_ENV, "30")
    assert validate(tmp_path).passed
    quality = tmp_path / "quality"
    results, pages = quality / "gx" / "uncommitted" / "validations", quality / "data_docs" / "validations"
    (recent_result,), (recent_page,) = run_folders(results), run_folders(pages)
    # Two earlier nights, copied from tonight's: one just inside the retention, one beyond it.
    now = datetime.now(timezone.utc)
    names = {age: (now - timedelta(days=age)).strftime("%Y%m%dT%H%M%S.%fZ") for age in (29, 31)}
    for folder in (recent_result, recent_page):
        for name in names.values():
            shutil.copytree(folder, folder.with_name(name))
    assert len(run_folders(results)) == 3 and len(run_folders(pages)) == 3

    assert validate(tmp_path).passed
    kept = {path.name for path in run_folders(results)}
    assert names[31] not in kept and names[29] in kept and recent_result.name in kept and len(kept) == 3
    assert {path.name for path in run_folders(pages)} == kept
    assert names[31] not in (quality / "data_docs" / "index.html").read_text(encoding="utf-8")


def test_prune_leaves_folders_it_cannot_date(tmp_path):
    stray = tmp_path / "gx" / "uncommitted" / "validations" / "suite" / "__none__" / "not-a-run-time"
    stray.mkdir(parents=True)
    old = stray.with_name("20200101T000000.000000Z")
    old.mkdir()
    assert prune_validation_history(tmp_path, keep_days=90) == 1
    assert stray.exists() and not old.exists()


@pytest.mark.parametrize(("variable", "read", "value"), [
    *[(HISTORY_DAYS_ENV, history_days, value) for value in ("abc", "0", "-5", "1.5", "36501")],
    *[(INDEX_RESULTS_ENV, index_results, value) for value in ("abc", "-1", "1.5", "1000001")],
])
def test_a_bad_setting_names_the_variable(monkeypatch, variable, read, value, tmp_path):
    monkeypatch.setenv(variable, value)
    with pytest.raises(HistorySettingError, match=variable):
        read()
    with pytest.raises(HistorySettingError, match=variable):
        validate(tmp_path)


def test_the_retention_defaults_to_ninety_days(monkeypatch):
    monkeypatch.delenv(HISTORY_DAYS_ENV, raising=False)
    assert history_days() == 90


def test_a_session_builds_the_data_docs_once_for_all_its_validations(tmp_path, monkeypatch):
    from great_expectations.data_context.data_context.abstract_data_context import AbstractDataContext

    builds = []
    build = AbstractDataContext.build_data_docs

    def counted_build(self, *args, **kwargs):
        builds.append(kwargs.get("resource_identifiers"))
        return build(self, *args, **kwargs)

    monkeypatch.setattr(AbstractDataContext, "build_data_docs", counted_build)
    result = validate(tmp_path, previous_segment_sizes={"rfm": 20})
    assert result.passed
    assert len(builds) == 1, f"one Data Docs build per session, got {len(builds)}"
    pages = tmp_path / "quality" / "data_docs" / "validations" / "export_contract" / "mindbox"
    assert {path.name for path in pages.iterdir()} == {"audience", "segment_sizes"}
    assert all(run_folders(pages / suite) for suite in ("audience", "segment_sizes"))
    index = (tmp_path / "quality" / "data_docs" / "index.html").read_text(encoding="utf-8")
    assert "export_contract.mindbox.audience" in index and "export_contract.mindbox.segment_sizes" in index
    # The result names each validation's own page (a failure report links it even once the index drops it).
    assert len(result.data_docs_pages) == 2
    assert {Path(page).relative_to(pages).parts[0] for page in result.data_docs_pages} == {"audience", "segment_sizes"}
    assert all(Path(page).is_file() for page in result.data_docs_pages)


def test_the_index_lists_only_the_newest_results(tmp_path, monkeypatch):
    monkeypatch.setenv(INDEX_RESULTS_ENV, "1")
    assert validate(tmp_path).passed
    assert validate(tmp_path).passed
    results = tmp_path / "quality" / "gx" / "uncommitted" / "validations"
    older, newest = (path.name for path in run_folders(results))
    index = (tmp_path / "quality" / "data_docs" / "index.html").read_text(encoding="utf-8")
    assert newest in index and older not in index
    # The older result keeps its page until the retention deletes it.
    assert {path.name for path in run_folders(tmp_path / "quality" / "data_docs" / "validations")} == {older, newest}

    monkeypatch.setenv(INDEX_RESULTS_ENV, "0")  # every kept result
    assert validate(tmp_path).passed
    index = (tmp_path / "quality" / "data_docs" / "index.html").read_text(encoding="utf-8")
    assert all(path.name in index for path in run_folders(results))


def test_the_index_lists_two_hundred_results_unless_told(monkeypatch):
    monkeypatch.delenv(INDEX_RESULTS_ENV, raising=False)
    assert index_results() == DEFAULT_INDEX_RESULTS == 200
    monkeypatch.setenv(INDEX_RESULTS_ENV, "0")
    assert index_results() is None
