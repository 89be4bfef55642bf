"""Runs the gate's Great Expectations suites: file context under <data>/quality/gx, pandas batches, checkpoints,
Data Docs under <data>/quality/data_docs.

GX 1.24's SQL datasource over duckdb-engine cannot resolve metrics, so the rows to validate are read from DuckDB
(read-only) into pandas and validated as a dataframe batch: data source -> dataframe asset -> whole-dataframe
batch definition; suite (expectations/suites.py); validation definition; checkpoint.
Everything is saved with add_or_update, so reruns never fail on "already exists". The Data Docs are built once
per session, for every validation of the session, not by each checkpoint: each build rewrites the index page,
and the index is the part that grows with the results kept (orchestration/quality/history.py).

GX is imported only inside gx_session (the import takes seconds and must not slow down loading the code
location), with its analytics off; a warehouse run starts that import on a thread of its own while dbt builds
(import_gx_in_background), so that the gate, which runs next in the same process, does not wait for it. One
lock file serialises sessions: the file context's config file is rewritten on every run and checks may run in
parallel processes. Each session first deletes the results older than the retention
(orchestration/quality/history.py, CDP_QUALITY_HISTORY_DAYS).
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import logging
import os
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Iterator
from urllib.parse import unquote, urlparse

from orchestration.quality.history import history_days, index_results, prune_validation_history
from orchestration.quality.results import FailedExpectation
from orchestration.settings import PROJECT_ROOT, DataPaths

if TYPE_CHECKING:
    import pandas as pd

SUITES_FILE = PROJECT_ROOT / "expectations" / "suites.py"
DATA_DOCS_SITE = "local_site"
SAMPLE_SIZE = 10

logger = logging.getLogger(__name__)


def quality_dir(paths: DataPaths) -> Path:
    return paths.root / "quality"


def data_docs_dir(paths: DataPaths) -> Path:
    return quality_dir(paths) / "data_docs"


def data_docs_index(paths: DataPaths) -> Path:
    return data_docs_dir(paths) / "index.html"


def suites_module() -> ModuleType:
    """expectations/suites.py, loaded by path: the folder is the analysts', not part of the installed package."""
    name = "cdp_expectations_suites"
    if name in sys.modules:
        return sys.modules[name]
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    spec = importlib.util.spec_from_file_location(name, SUITES_FILE)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the gate's suites from {SUITES_FILE}")
    module = importlib.util.module_from_spec(spec)
    # What was loaded, for results remembered across processes (export_contract.py): an edit made while this
    # process runs must not be credited with this version's passes.
    module.SOURCE_SHA256 = hashlib.sha256(SUITES_FILE.read_bytes()).hexdigest()
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


@dataclass
class SuiteOutcome:
    suite: str
    success: bool
    evaluated: int
    failed: list[FailedExpectation]
    page: str | None = None  # this validation's Data Docs page (built when the session ends)


@dataclass
class GxSession:
    """A GX data context and the validations run in it, whose Data Docs pages the session builds when it ends."""

    context: Any
    docs_resources: list[Any] = field(default_factory=list)

    def build_data_docs(self) -> None:
        """Pages of this session's validations and their suites, and the index, in one build."""
        if self.docs_resources and DATA_DOCS_SITE in self.context.list_data_docs_sites():
            self.context.build_data_docs(site_names=[DATA_DOCS_SITE], resource_identifiers=self.docs_resources)
        self.docs_resources = []


def _great_expectations() -> ModuleType:
    """GX, imported with its analytics off (the setting must be in place before its first import)."""
    os.environ["GX_ANALYTICS_ENABLED"] = "false"
    import great_expectations

    return great_expectations


def import_gx_in_background() -> threading.Thread | None:
    """Start importing Great Expectations on a daemon thread, unless this process has it already.

    A run process imports GX the first time its gate validates: 2.2-2.3 s, after the dbt build and before the
    exports, every night a run starts in a fresh process (`dagster dev`, `make nightly`). The warehouse step calls
    this before dbt starts; its process then mostly waits on dbt's output, so the import is done by the time the
    gate needs it (docs/performance.md, section AT). A failure here is left to the gate's own import to report.
    """
    if "great_expectations" in sys.modules:
        return None

    def import_gx() -> None:
        try:
            _great_expectations()
        except Exception:  # the gate imports it again and fails with the reason
            logging.getLogger(__name__).debug("importing great_expectations ahead of the gate failed", exc_info=True)

    thread = threading.Thread(target=import_gx, name="import great_expectations", daemon=True)
    thread.start()
    return thread


@contextmanager
def gx_session(paths: DataPaths | None) -> Iterator[GxSession]:
    """A GX file context rooted at <data>/quality (config in <data>/quality/gx), held under the gate's lock; the
    Data Docs of its validations are built when it ends. Without a data directory: an ephemeral context (nothing
    written, no Data Docs)."""
    if paths is None:
        context = _great_expectations().get_context(mode="ephemeral")
        for site in list(context.list_data_docs_sites()):
            context.delete_data_docs_site(site)  # its default site would build docs in a stray temp folder
        _quiet(context)
        yield GxSession(context)
        return
    root = quality_dir(paths)
    root.mkdir(parents=True, exist_ok=True)
    keep_days = history_days()  # a bad setting fails before anything is validated
    listed_results = index_results()
    with (root / ".gx.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            # Results older than the retention go first: the Data Docs index is rebuilt from every stored one.
            prune_validation_history(root, keep_days)
            context = _great_expectations().get_context(mode="file", project_root_dir=str(root))
            _configure(context, paths, listed_results)
            session = GxSession(context)
            try:
                yield session
            except Exception:
                # The results stored before the failure still get their pages; the failure is what to report.
                try:
                    session.build_data_docs()
                except Exception:
                    logger.exception("Data Docs not updated after a failed validation session under %s", root)
                raise
            session.build_data_docs()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _configure(context: Any, paths: DataPaths, listed_results: int | None) -> None:
    index_builder: dict[str, Any] = {"class_name": "DefaultSiteIndexBuilder"}
    if listed_results is not None:
        index_builder["validation_results_limit"] = listed_results
    site = {
        "class_name": "SiteBuilder",
        "show_how_to_buttons": False,
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(data_docs_dir(paths))},
        "site_index_builder": index_builder,
    }
    sites = context.list_data_docs_sites()
    # The data directory may have moved (or been copied), or the index size changed: always use this one's.
    if DATA_DOCS_SITE not in sites:
        context.add_data_docs_site(DATA_DOCS_SITE, site)
    elif sites[DATA_DOCS_SITE] != site:
        context.update_data_docs_site(DATA_DOCS_SITE, site)
    _quiet(context)


def _quiet(context: Any) -> None:
    """No progress bars in Dagster's logs."""
    from great_expectations.data_context.types.base import ProgressBarsConfig

    progress = context.variables.progress_bars
    if progress is None or progress.get("globally", True) or progress.get("metric_calculations", True):
        context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
        try:
            context.variables.save()
        except (NotImplementedError, AttributeError):
            pass  # an ephemeral context keeps it in memory


def run_suite(
    session: GxSession,
    *,
    frame: "pd.DataFrame",
    suite: Any,
    data_source: str,
    asset: str,
    parameters: dict[str, Any] | None = None,
    index_columns: list[str] | None = None,
) -> SuiteOutcome:
    """Validates one dataframe against one suite through a checkpoint; its Data Docs page comes with the session's."""
    import great_expectations as gx
    from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier

    context = session.context
    batch_definition = _batch_definition(context, data_source, asset)
    suite = context.suites.add_or_update(suite)
    validation = context.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=suite.name, data=batch_definition, suite=suite)
    )
    result_format: dict[str, Any] = {"result_format": "SUMMARY", "partial_unexpected_count": SAMPLE_SIZE}
    index_columns = [column for column in index_columns or [] if column in frame.columns]
    if index_columns:
        result_format["unexpected_index_column_names"] = index_columns
    checkpoint = context.checkpoints.add_or_update(gx.Checkpoint(
        name=suite.name, validation_definitions=[validation], actions=[], result_format=result_format,
    ))
    result = checkpoint.run(batch_parameters={"dataframe": frame}, expectation_parameters=parameters or {})
    session.docs_resources += [*result.run_results, ExpectationSuiteIdentifier(name=suite.name)]
    return _outcome(suite.name, result, page=_page(context, next(iter(result.run_results))))


def _page(context: Any, validation_result: Any) -> str | None:
    """Where the Data Docs page of one validation result is: a failure report links it, as the index lists only
    the newest results."""
    if DATA_DOCS_SITE not in context.list_data_docs_sites():
        return None
    urls = context.get_docs_sites_urls(resource_identifier=validation_result, site_names=[DATA_DOCS_SITE],
                                       only_if_exists=False)
    url = urls[0].get("site_url") if urls else None
    return unquote(urlparse(url).path) if url else None


def _batch_definition(context: Any, data_source: str, asset: str) -> Any:
    try:
        source = context.data_sources.get(data_source)
    except (KeyError, LookupError, ValueError):
        source = context.data_sources.add_pandas(data_source)
    try:
        dataframe_asset = source.get_asset(asset)
    except (KeyError, LookupError):
        dataframe_asset = source.add_dataframe_asset(asset)
    try:
        return dataframe_asset.get_batch_definition("whole_dataframe")
    except (KeyError, LookupError):
        return dataframe_asset.add_batch_definition_whole_dataframe("whole_dataframe")


def _outcome(suite_name: str, checkpoint_result: Any, page: str | None = None) -> SuiteOutcome:
    failed: list[FailedExpectation] = []
    evaluated = 0
    for validation_result in checkpoint_result.run_results.values():
        for result in validation_result.results:
            evaluated += 1
            if result.success:
                continue
            config = result.expectation_config
            details = result.result or {}
            exception = None
            info = result.exception_info or {}
            if info.get("raised_exception"):
                exception = str(info.get("exception_message") or "error")
            sample = details.get("partial_unexpected_index_list") or details.get("partial_unexpected_list") or []
            condition = config.kwargs.get("row_condition")
            failed.append(FailedExpectation(
                suite=suite_name,
                expectation=config.type,
                description=config.description or config.type,
                column=config.kwargs.get("column"),
                unexpected_count=details.get("unexpected_count"),
                element_count=details.get("element_count"),
                sample=[_plain(value) for value in sample[:SAMPLE_SIZE]],
                exception=exception,
                condition_column=condition.get("column", {}).get("name") if isinstance(condition, dict) else None,
            ))
    return SuiteOutcome(suite=suite_name, success=bool(checkpoint_result.success), evaluated=evaluated, failed=failed,
                        page=page)


def _plain(value: Any) -> Any:
    """JSON-friendly copy of a sample value (dates and numpy scalars become str / Python numbers)."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)):  # numpy scalars subclass these
        return float(value) if isinstance(value, float) else int(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):
        try:
            item = value.item()
        except (ValueError, TypeError):
            return str(value)
        return item if isinstance(item, (bool, int, float, str)) else _plain(str(item))
    return str(value)
