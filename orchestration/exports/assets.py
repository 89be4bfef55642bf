"""One Dagster asset per export destination (from destinations.yml).

Export assets run in the same job as the dbt build and the quality gate: the gate's blocking checks sit on
assets these depend on, so when the warehouse disagrees with the source systems no export runs and the
previous export stays the latest.
"""

import functools

import dagster as dg
import duckdb

from orchestration.exports.config import Destination, load_destinations
from orchestration.exports.writer import export_destination, read_audience
from orchestration.quality.checks import gate_checks
from orchestration.resources import DataDirResource

EXPORTS_GROUP = "exports"
EXPORT_AUDIENCE_KEY = dg.AssetKey(["exports", "export_audience"])
# The gate's blocking checks live on these assets; depending on them puts every export behind the gate.
GATE_CHECK_KEYS = [key for check in gate_checks for key in check.check_keys]
GATE_CHECK_NAMES = {key.name for key in GATE_CHECK_KEYS}
GATED_UPSTREAM_KEYS = sorted({key.asset_key for key in GATE_CHECK_KEYS}, key=lambda key: key.to_user_string())


def checks_passed_in_run(context: dg.AssetExecutionContext) -> list[str]:
    """The gate checks that passed earlier in this run, by name, and how many dbt tests passed."""
    evaluations = [
        entry.dagster_event.event_specific_data
        for entry in context.instance.all_logs(context.run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
    ]
    passed = {evaluation.asset_check_key for evaluation in evaluations if evaluation.passed}
    gate = sorted(f"{key.asset_key.to_user_string()}:{key.name}" for key in passed if key.name in GATE_CHECK_NAMES)
    dbt_tests = len(passed) - len(gate)
    return gate + ([f"dbt tests passed in this run: {dbt_tests}"] if dbt_tests else [])


def _known_segments(warehouse_path) -> set[str]:
    with duckdb.connect(str(warehouse_path), read_only=True) as con:
        names = con.execute("select view_name from duckdb_views() where view_name like 'segment\\_%' escape '\\'").fetchall()
    return {name.removeprefix("segment_") for (name,) in names}


def build_export_asset(destination: Destination) -> dg.AssetsDefinition:
    @dg.asset(
        key=dg.AssetKey(["exports", destination.name]),
        description=(
            f"{destination.description}\n\nSegments: {', '.join(destination.segments)}; channel: "
            f"{destination.channel}. Files under exports/<run_date>/{destination.name}/ with manifest.json."
        ),
        group_name=EXPORTS_GROUP,
        kinds={destination.format},
        deps=[EXPORT_AUDIENCE_KEY, *GATED_UPSTREAM_KEYS],
        tags={"destination": destination.name, "channel": destination.channel},
        retry_policy=dg.RetryPolicy(max_retries=2, delay=5),
    )
    def export(context: dg.AssetExecutionContext, data_dir: DataDirResource) -> dg.MaterializeResult:
        paths = data_dir.paths()
        unknown = sorted(set(destination.segments) - _known_segments(paths.warehouse))
        if unknown:
            raise dg.Failure(
                f"destinations.yml sends segment(s) {unknown} to {destination.name}, but the warehouse has no "
                f"such segment view; fix orchestration/exports/destinations.yml or add the view.",
                allow_retries=False,
            )
        with duckdb.connect() as con:
            run_date = read_audience(con, paths.warehouse)
            result = export_destination(
                con, destination, paths.exports, run_date, context.run.run_id, checks_passed_in_run(context),
                contract_check=_contract_check(paths),
            )
        manifest = result.manifest
        return dg.MaterializeResult(
            metadata={
                "run_date": run_date,
                "directory": dg.MetadataValue.path(str(result.directory)),
                "rows_total": manifest["rows_total"],
                "segment_sizes": dg.MetadataValue.json({s: i["rows"] for s, i in manifest["segments"].items()}),
                "entered": sum(i["entered"] for i in manifest["segments"].values()),
                "exited": sum(i["exited"] for i in manifest["segments"].values()),
                "suppressed": dg.MetadataValue.json(manifest["suppressed_total"]),
                "suppressed_total": sum(manifest["suppressed_total"].values()),
            }
        )

    return export


def _contract_check(paths):
    """The quality gate's export-contract suite; results, Data Docs and failure reports go under the data dir."""
    from orchestration.quality.export_contract import export_contract_check

    return functools.partial(export_contract_check, paths=paths)


export_assets = [build_export_asset(destination) for destination in load_destinations()]
