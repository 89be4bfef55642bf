"""One Dagster asset per source table, partitioned by dump date.

Each asset turns that table's landed files into typed Parquet under lake/raw, quarantines what it cannot
load, and proves with an asset check that every line read went one way or the other.
"""


import dagster as dg

from orchestration.ingest.contracts import CONTRACTS, TableContract
from orchestration.ingest.errors import IngestError
from orchestration.ingest.loader import LoadReport, load_partition
from orchestration.ingest.partitions import dump_date_partitions
from orchestration.resources import DataDirResource
from orchestration.settings import WAREHOUSE_POOL

INGEST_GROUP = "ingest"
ACCOUNTING_CHECK = "lines_accounted_for"


def raw_asset_key(contract: TableContract) -> dg.AssetKey:
    return dg.AssetKey(["raw", contract.source, contract.table])


def _kinds(contract: TableContract) -> set[str]:
    return {"parquet", "json" if contract.format == "jsonl" else "csv"}


def report_metadata(report: LoadReport) -> dict[str, dg.MetadataValue]:
    return {
        "lines_read": dg.MetadataValue.int(report.lines_read),
        "rows_loaded": dg.MetadataValue.int(report.rows_loaded),
        "lines_quarantined": dg.MetadataValue.int(report.lines_quarantined),
        "bytes_read": dg.MetadataValue.int(report.bytes_read),
        "seconds": dg.MetadataValue.float(round(report.seconds, 3)),
        "files": dg.MetadataValue.md(_files_table(report)),
        "quarantine_reasons": dg.MetadataValue.json(report.quarantine_reasons),
        "duplicate_deliveries": dg.MetadataValue.int(sum(1 for f in report.files if f.duplicate_of)),
        "duplicate_lines": dg.MetadataValue.int(sum(f.duplicate_lines for f in report.files)),
    }


def _files_table(report: LoadReport) -> str:
    lines = ["| file | bytes | read | loaded | quarantined | duplicate of |", "|---|---:|---:|---:|---:|---|"]
    for f in report.files:
        lines.append(
            f"| {f.source_file} | {f.size_bytes} | {f.lines_read} | {f.rows_loaded} | {f.lines_quarantined} "
            f"| {f.duplicate_of or ''} |"
        )
    return "\n".join(lines)


def build_ingest_asset(contract: TableContract) -> dg.AssetsDefinition:
    key = raw_asset_key(contract)

    @dg.asset(
        key=key,
        description=(
            f"{contract.description}\n\nLanded files `{contract.source}/{contract.file_glob}` "
            f"({contract.encoding}, {contract.format}) loaded into typed Parquet; unloadable lines quarantined."
        ),
        group_name=INGEST_GROUP,
        kinds=_kinds(contract),
        tags={"source": contract.source},
        partitions_def=dump_date_partitions,
        pool=WAREHOUSE_POOL,  # one writer at a time, and never beside a warehouse build (settings.py)
        retry_policy=dg.RetryPolicy(max_retries=2, delay=5),  # transient I/O; bad files fail at once
        check_specs=[
            dg.AssetCheckSpec(
                ACCOUNTING_CHECK,
                asset=key,
                description="Every line read was either loaded or quarantined with a reason.",
            )
        ],
    )
    def ingest(context: dg.AssetExecutionContext, data_dir: DataDirResource) -> dg.MaterializeResult:
        try:
            report = load_partition(contract, context.partition_key, data_dir.paths())
        except IngestError as error:
            # The file itself is wrong: retrying cannot help, the message says what to do.
            raise dg.Failure(description=str(error), allow_retries=False) from error
        context.log.info(
            f"{contract.key} {context.partition_key}: read {report.lines_read}, loaded {report.rows_loaded}, "
            f"quarantined {report.lines_quarantined} in {report.seconds:.2f}s"
        )
        return dg.MaterializeResult(
            metadata=report_metadata(report),
            check_results=[
                dg.AssetCheckResult(
                    check_name=ACCOUNTING_CHECK,
                    passed=report.is_balanced,
                    metadata={
                        "lines_read": report.lines_read,
                        "rows_loaded": report.rows_loaded,
                        "lines_quarantined": report.lines_quarantined,
                    },
                )
            ],
        )

    return ingest


ingest_assets = [build_ingest_asset(contract) for contract in CONTRACTS]
