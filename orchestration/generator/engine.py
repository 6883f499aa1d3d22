"""``generate``: build the world, then stream every billing period to disk chunk by chunk."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa

from orchestration.generator import rows as R
from orchestration.generator.config import GenerationSummary, GeneratorConfig
from orchestration.generator.plan import PeriodPlan, plan_period
from orchestration.generator.rand import hex_digest, uuid_like
from orchestration.generator.render_cur import (
    CUR2_COLUMNS,
    LEGACY_COLUMNS,
    CurRenderer,
    cur2_schema,
    legacy_schema,
)
from orchestration.generator.render_focus import (
    DATETIME_COLUMNS,
    DECIMAL_COLUMNS,
    FocusRenderer,
    focus_schema,
)
from orchestration.generator.sidecars import (
    invoice_total,
    units_to_decimal,
    write_accounts,
    write_business,
    write_labels,
    write_readme,
)
from orchestration.generator.sinks import ChunkedWriter
from orchestration.generator.tables import PeriodTables, Tables, invoice_id
from orchestration.generator.world import Period, World, build_world, iso_ms

Progress = Callable[[int, int, str], None]
BUCKET = "synthetic-billing-exports"


@dataclass(frozen=True)
class PeriodLayout:
    data_dir: Path
    manifest: Path
    stem: str
    assembly_id: str = ""


def period_layout(world: World, period: Period) -> PeriodLayout:
    """Where a period's files go, following the real delivery layout of the format."""
    config = world.config
    name, out = config.name, config.out
    if config.fmt == "cur-legacy-csv":
        span = f"{period.start:%Y%m%d}-{period.end:%Y%m%d}"
        assembly = uuid_like(config.seed, "assembly", name, period.label)
        return PeriodLayout(
            out / name / span / assembly, out / name / span / f"{name}-Manifest.json", name, assembly
        )
    partition = f"BILLING_PERIOD={period.label}"
    return PeriodLayout(
        out / name / "data" / partition, out / name / "metadata" / partition / f"{name}-Manifest.json", name
    )


def _clear(world: World, layout: PeriodLayout) -> None:
    """Remove what an earlier run wrote for this period, so stale chunk files never linger."""
    target = layout.data_dir.parent if world.config.fmt == "cur-legacy-csv" else layout.data_dir
    for path in (target, layout.manifest.parent if world.config.fmt != "cur-legacy-csv" else None):
        if path is not None and path.is_dir():
            shutil.rmtree(path)


def _schema(config: GeneratorConfig) -> pa.Schema:
    csv = config.container == "csv"
    if config.fmt == "cur2":
        return cur2_schema(csv)
    if config.fmt == "cur-legacy-csv":
        return legacy_schema()
    return focus_schema(csv)


def _render(world: World, tables: Tables, ptables: PeriodTables, batch: R.Batch) -> pa.Table:
    config = world.config
    csv = config.container == "csv"
    if config.fmt == "focus-1.2":
        return FocusRenderer(world, tables, ptables, batch, csv=csv).table()
    if config.fmt == "cur2":
        return CurRenderer(world, tables, ptables, batch, csv=csv).cur2_table()
    return CurRenderer(world, tables, ptables, batch, csv=True, legacy=True).legacy_table()


def _relative(config: GeneratorConfig, path: Path) -> str:
    return path.relative_to(config.out).as_posix()


def _write_manifest(world: World, layout: PeriodLayout, period: Period, files: list[Path], rows: int) -> Path:
    config = world.config
    payer_id = world.accounts[0].account_id
    keys = [_relative(config, f) for f in files]
    if config.fmt == "cur-legacy-csv":
        columns = []
        for header in LEGACY_COLUMNS:
            category, name = header.split("/", 1)
            kind = legacy_schema().field(header).type
            if header in ("identity/TimeInterval",):
                word = "Interval"
            elif header.endswith(("StartDate", "EndDate")):
                word = "DateTime"
            elif kind == pa.float64():
                word = "OptionalBigDecimal"
            else:
                word = "OptionalString"
            columns.append({"category": category, "name": name, "type": word})
        body: dict[str, object] = {
            "assemblyId": layout.assembly_id,
            "account": payer_id,
            "columns": columns,
            "charset": "UTF-8",
            "compression": "GZIP",
            "contentType": "text/csv",
            "reportId": hex_digest(config.seed, "report", config.name, length=64),
            "reportName": config.name,
            "billingPeriod": {
                "start": f"{period.start:%Y%m%d}T000000.000Z",
                "end": f"{period.end:%Y%m%d}T000000.000Z",
            },
            "bucket": BUCKET,
            "reportKeys": keys,
            "additionalArtifactKeys": [],
        }
    else:
        if config.fmt == "cur2":
            table = "COST_AND_USAGE_REPORT"
            columns = [
                {
                    "name": n,
                    "type": {"map": "map<string,string>", "map_double": "map<string,double>"}.get(k, k),
                }
                for n, k in CUR2_COLUMNS
            ]
        else:
            table = "FOCUS_1_2_AWS"
            columns = [
                {
                    "name": f.name,
                    "type": "decimal(38,10)"
                    if f.name in DECIMAL_COLUMNS
                    else "timestamp"
                    if f.name in DATETIME_COLUMNS
                    else "string",
                }
                for f in focus_schema(False)
            ]
        parquet = config.container == "parquet"
        body = {
            "exportName": config.name,
            "exportArn": f"arn:aws:bcm-data-exports:us-east-1:{payer_id}:export/{config.name}-"
            f"{uuid_like(config.seed, 'export', config.name)}",
            "executionId": uuid_like(config.seed, "execution", config.name, period.label),
            "tableName": table,
            "billingPeriod": {"start": iso_ms(period.start), "end": iso_ms(period.end)},
            "bucket": BUCKET,
            "dataFormat": "PARQUET" if parquet else "TEXT_OR_CSV",
            "compression": "PARQUET" if parquet else "GZIP",
            "columns": columns,
            "dataFiles": keys,
            "recordCount": rows,
            "additionalOutputFiles": [],
        }
    layout.manifest.parent.mkdir(parents=True, exist_ok=True)
    layout.manifest.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
    return layout.manifest


def _layout_text(world: World) -> str:
    config = world.config
    ext = ".snappy.parquet" if config.container == "parquet" else ".csv.gz"
    if config.fmt == "cur-legacy-csv":
        return (
            f"  {config.name}/<yyyymmdd-yyyymmdd>/<assemblyId>/{config.name}-00001.csv.gz   data (numbered chunks)\n"
            f"  {config.name}/<yyyymmdd-yyyymmdd>/{config.name}-Manifest.json       manifest"
        )
    return (
        f"  {config.name}/data/BILLING_PERIOD=YYYY-MM/{config.name}-00001{ext}   data (numbered chunks)\n"
        f"  {config.name}/metadata/BILLING_PERIOD=YYYY-MM/{config.name}-Manifest.json   manifest"
    )


def _write_period(
    world: World,
    tables: Tables,
    ptables: PeriodTables,
    plan: PeriodPlan,
    focus: bool,
    acc: R.Accumulator,
    anomaly_sums: np.ndarray,
    writer: ChunkedWriter,
    done: int,
    total: int,
    progress: Progress | None,
) -> int:
    """Stream one period: its usage rows chunk by chunk, then its fixed rows. Returns the rows done so far."""
    config, period = world.config, plan.period
    seq = 0
    for lo, hi in plan.chunks(config.chunk_rows):
        batch = R.usage_batch(world, plan, lo, hi, focus, acc, anomaly_sums, seq)
        writer.write(_render(world, tables, ptables, batch))
        seq += 1
        done += batch.n
        if progress:
            progress(
                done, total, f"{period.label}: {done - period.index * config.rows:,} of {config.rows:,} rows"
            )
    batch = R.fixed_batch(world, plan, focus, acc, seq)
    writer.write(_render(world, tables, ptables, batch))
    return done + batch.n


def generate(config: GeneratorConfig, progress: Progress | None = None) -> GenerationSummary:
    """Generate ``config.months`` billing periods of ``config.rows`` line items each under ``config.out``.

    ``progress(done_rows, total_rows, message)`` is called after every chunk written.
    """
    world = build_world(config)
    tables = Tables.build(world)
    focus = config.fmt == "focus-1.2"
    summary = GenerationSummary(out=config.out, fmt=config.fmt)
    total, done = config.rows * config.months, 0
    anomaly_sums = np.zeros((len(world.anomalies), 2), np.int64)
    invoices: list[tuple[int, str, str, Decimal]] = []
    schema = _schema(config)
    config.out.mkdir(parents=True, exist_ok=True)
    for period in world.periods:
        plan = plan_period(world, period, focus)
        ptables = PeriodTables.build(world, period)
        acc = R.Accumulator(len(world.accounts), len(world.commitments), period.days)
        layout = period_layout(world, period)
        _clear(world, layout)
        writer = ChunkedWriter(
            layout.data_dir, layout.stem, config.container, schema, config.max_rows_per_file
        )
        try:
            done = _write_period(
                world, tables, ptables, plan, focus, acc, anomaly_sums, writer, done, total, progress
            )
            files = writer.close()
        except BaseException:
            writer.abort()
            raise
        if writer.rows != config.rows:
            raise RuntimeError(f"{period.label}: wrote {writer.rows} rows, expected {config.rows}")
        summary.data_files.extend(files)
        summary.manifest_files.append(_write_manifest(world, layout, period, files, writer.rows))
        summary.rows_per_period[period.label] = writer.rows
        summary.cost_per_period[period.label] = units_to_decimal(sum(acc.billed_by_payer.values()))
        for payer in range(config.billing_accounts):
            units = acc.billed_by_payer.get(payer, 0)
            invoices.append((payer, period.label, invoice_id(world, payer, period), invoice_total(units)))
        if progress:
            progress(done, total, f"{period.label}: done")
    summary.labels_path = write_labels(world, config.out, anomaly_sums)
    summary.side_files.append(summary.labels_path)
    summary.side_files.extend(write_business(world, config.out, invoices))
    summary.side_files.append(write_accounts(world, config.out))
    summary.side_files.append(write_readme(world, config.out, _layout_text(world), summary.rows_per_period))
    return summary
