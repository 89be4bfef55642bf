"""The nightly exports: one Dagster asset per export destination (from destinations.yml), all computed in one step.

Export assets run in the same job as the dbt build and the quality gate: the gate's blocking checks sit on
assets these depend on, so when the warehouse disagrees with the source systems no export runs and the
previous export stays the latest.

Each destination stays an asset of its own (lineage, materializations, one destination re-exported from the UI:
the step can run any subset), but the destinations selected in a run share one step: the audience is read from
the warehouse once, each channel's members are selected from it once (writer.select_channel_members), each
channel's audience is fingerprinted and validated once, and Great Expectations runs one session, so one Data
Docs build (at M a step per destination cost 7.5-10.5 s a night for six, mostly those repeated parts;
docs/performance.md, sections T and AF). A destination that fails its contract, or names a segment the
warehouse lacks, or fails on an error (a full disk, say), is not published and fails the step, after the other
destinations have been published: one broken destination never holds back the others. A broken contract is not
retried; after any other error the retry policy exports the whole selection again, which writes the same files,
as any rerun of a day does.
"""

import traceback

import dagster as dg
import duckdb

from orchestration.exports.config import Destination, load_destinations
from orchestration.exports.writer import (
    ChannelMembers, ExportContractError, ExportResult, export_destination, read_audience, select_channel_members,
)
from orchestration.quality.checks import gate_checks
from orchestration.resources import DataDirResource

EXPORTS_GROUP = "exports"
EXPORT_AUDIENCE_KEY = dg.AssetKey(["exports", "export_audience"])
# The gate's blocking checks live on these assets; depending on them puts every export behind the gate.
GATE_CHECK_KEYS = [key for check in gate_checks for key in check.check_keys]
GATE_CHECK_NAMES = {key.name for key in GATE_CHECK_KEYS}
GATED_UPSTREAM_KEYS = sorted({key.asset_key for key in GATE_CHECK_KEYS}, key=lambda key: key.to_user_string())


def export_key(destination: Destination) -> dg.AssetKey:
    return dg.AssetKey(["exports", destination.name])


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


def _unknown_segments_error(destination: Destination, unknown: list[str]) -> str:
    return (f"destinations.yml sends segment(s) {unknown} to {destination.name}, but the warehouse has no such "
            f"segment view; fix orchestration/exports/destinations.yml or add the view.")


def export_spec(destination: Destination) -> dg.AssetSpec:
    return dg.AssetSpec(
        key=export_key(destination),
        description=(
            f"{destination.description}\n\nSegments: {', '.join(destination.segments)}; channel: "
            f"{destination.channel}. Files under exports/<run_date>/{destination.name}/ with manifest.json."
        ),
        group_name=EXPORTS_GROUP,
        kinds={destination.format},
        deps=[EXPORT_AUDIENCE_KEY, *GATED_UPSTREAM_KEYS],
        tags={"destination": destination.name, "channel": destination.channel},
    )


def _materialization(destination: Destination, run_date: str, result: ExportResult) -> dg.MaterializeResult:
    manifest = result.manifest
    return dg.MaterializeResult(
        asset_key=export_key(destination),
        metadata={
            "run_date": run_date,
            "directory": dg.MetadataValue.path(str(result.directory)),
            "rows_total": manifest["rows_total"],
            "segment_sizes": dg.MetadataValue.json({s: i["rows"] for s, i in manifest["segments"].items()}),
            "entered": sum(i["entered"] for i in manifest["segments"].values()),
            "exited": sum(i["exited"] for i in manifest["segments"].values()),
            "suppressed": dg.MetadataValue.json(manifest["suppressed_total"]),
            "suppressed_total": sum(manifest["suppressed_total"].values()),
        },
    )


def build_export_assets(destinations: list[Destination]) -> dg.AssetsDefinition:
    """One step that publishes every selected destination: see the module docstring."""

    @dg.multi_asset(
        name="exports",
        specs=[export_spec(destination) for destination in destinations],
        can_subset=True,
        retry_policy=dg.RetryPolicy(max_retries=2, delay=5),
    )
    def exports(context: dg.AssetExecutionContext, data_dir: DataDirResource):
        from orchestration.quality.export_contract import ExportContract

        paths = data_dir.paths()
        selected = [d for d in destinations if export_key(d) in context.selected_asset_keys]
        checks_passed = checks_passed_in_run(context)
        known = _known_segments(paths.warehouse)
        failures: list[str] = []
        retry = False  # only for a failure that may pass on a second try (I/O, say), not for a broken contract
        with duckdb.connect() as con, ExportContract(paths) as contract:
            run_date = read_audience(con, paths.warehouse)
            channels: dict[str, ChannelMembers] = {}  # each channel selected once, for all its destinations
            for destination in selected:
                unknown = sorted(set(destination.segments) - known)
                try:
                    if unknown:
                        raise ExportContractError(_unknown_segments_error(destination, unknown))
                    if destination.channel not in channels:
                        channels[destination.channel] = select_channel_members(con, destination.channel)
                    result = export_destination(con, destination, paths.exports, run_date, context.run.run_id,
                                                checks_passed, contract_check=contract,
                                                channel_members=channels[destination.channel])
                except ExportContractError as error:
                    context.log.error(f"{destination.name}: not published. {error}")
                    failures.append(str(error))
                    continue
                except Exception as error:  # noqa: BLE001 - one destination's error must not hold back the others
                    context.log.error(f"{destination.name}: not published.\n{traceback.format_exc()}")
                    failures.append(f"export to {destination.name} failed: {type(error).__name__}: {error}")
                    retry = True
                    continue
                context.log.info(f"{destination.name}: {result.manifest['rows_total']:,} rows -> {result.directory}")
                yield _materialization(destination, run_date, result)
        if failures:
            published = len(selected) - len(failures)
            raise dg.Failure(
                f"{len(failures)} of {len(selected)} export destination(s) not published ({published} published; "
                f"for those not published the previous export stays the latest): " + " | ".join(failures),
                # A broken contract or a missing segment fails the same way again; a retry exports the whole
                # selection again, which rewrites the published destinations' files identically.
                allow_retries=retry,
            )

    return exports


export_assets = [build_export_assets(load_destinations())]
EXPORT_KEYS = [key for asset in export_assets for key in asset.keys]
