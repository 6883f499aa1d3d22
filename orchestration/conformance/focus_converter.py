"""Side-by-side check against the FinOps Foundation's converter (``focus-converter`` on PyPI).

tfm's dbt models map AWS Cost and Usage Reports to FOCUS 1.2 in ``marts.fct_focus_charges``. The
Foundation publishes a converter that does the same for legacy CUR files, so the two can be run on the
same file and compared: same row count, and the same BilledCost and EffectiveCost per service and per day
to the cent, except the cases where the converter is wrong, which are listed with the spec rule they
break in ``dbt_project/focus_converter_differences.yml``.

The converter is a comparison point, never a dependency of tfm: it pins polars 0.20 and old versions of
click and multimethod, so it lives in its own virtualenv, created on first use by ``ensure_converter``
under ``$TFM_TOOLS_DIR/focus-converter-1.0.0`` (``TFM_TOOLS_DIR`` defaults to ``<repo>/.tfm/tools``).

Facts about focus-converter 1.0.0 that this module relies on:

* Legacy CUR files (``lineItem/UnblendedCost``-style headers) need provider ``aws-cur``. Provider ``aws``
  expects Athena snake_case names (``line_item_unblended_cost``); on a legacy CSV it stops with
  "Column(s) ... not found in data" and then never exits, as after any error: its parquet writer
  processes wait on their queue forever. So every run has a timeout, and a run whose log shows a
  traceback is ended (its whole process group) at once rather than waited for.
* It writes parquet with FOCUS 1.0-preview names (``Provider``, ``Publisher``, ``InvoiceIssuer``) next to
  1.0 ones (``ChargeCategory``, ``EffectiveCost``, ``RegionId``), followed by every source column.
  BilledCost is a float64 and EffectiveCost a string (the text of a float); both are read back here
  through their shortest decimal text into ``Decimal`` and never summed as floats.
* ServiceName is ``lineItem/ProductCode`` (``AmazonS3``), where FOCUS wants a display name
  (``Amazon Simple Storage Service``); ``service_name_aliases`` in the differences file maps one to the
  other before comparing.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext
from pathlib import Path
from typing import Any

import pandas as pd

REPO_ROOT = Path(__file__).resolve().parents[2]
DIFFERENCES_FILE = REPO_ROOT / "dbt_project" / "focus_converter_differences.yml"
LEGACY_CUR_SAMPLE = (
    REPO_ROOT
    / "orchestration"
    / "samples"
    / "aws-cur-legacy-focusconv"
    / "sample-anonymous-aws-export-dataset.csv"
)

CONVERTER_VERSION = "1.0.0"
# The provider whose configs read legacy CUR headers (lineItem/UnblendedCost); "aws" is for Athena names.
PROVIDER = "aws-cur"
CONSOLE_SCRIPT = "focus-converter"

# Everything the converter's virtualenv holds, as resolved for focus-converter 1.0.0 on Python 3.11 with
# the two caps it needs (multimethod<2 and click<8.2: newer releases break its imports and its CLI).
PINNED_REQUIREMENTS: tuple[str, ...] = (
    f"focus-converter=={CONVERTER_VERSION}",
    "annotated-types==0.8.0",
    "certifi==2026.10.19.post1",
    "charset-normalizer==3.5.3",
    "click==8.1.8",
    "focus-validator==1.0.0",
    "idna==3.20",
    "Jinja2==3.1.6",
    "markdown-it-py==4.3.0",
    "MarkupSafe==3.0.4",
    "mdurl==0.1.2",
    "multimethod==1.12",
    "mypy-extensions==1.2.0",
    "networkx==3.6.1",
    "numpy==1.26.4",
    "packaging==26.4",
    "pandas==2.3.3",
    "pandasql==0.7.3",
    "pandera==0.17.2",
    "pillow==10.4.0",
    "polars==0.20.10",
    "pyarrow==14.0.2",
    "pydantic==2.14.4",
    "pydantic-core==2.50.5",
    "Pygments==2.21.0",
    "python-dateutil==4.0.0",
    "pytz==2023.4",
    "PyYAML==6.0.4",
    "requests==2.34.2",
    "rich==13.9.4",
    "SQLAlchemy==2.1.9",
    "sqlglot==18.17.0",
    "tabulate==0.10.0",
    "tqdm==4.70.1",
    "typeguard==4.6.1",
    "typer==0.9.4",
    "typing-inspect==0.9.0",
    "typing-inspection==0.4.5",
    "typing-extensions==4.16.0",
    "tzdata==2026.6",
    "urllib3==2.8.0",
    "wrapt==2.5.2",
)

TOTAL_COLUMNS = ["service_name", "charge_date", "rows", "billed_cost", "effective_cost"]
MEASURES = ("rows", "billed_cost", "effective_cost")
CENT = Decimal("0.01")
# Wide enough for sums of DECIMAL(38, 18) values: Decimal's default 28 digits could round them.
_EXACT = Context(prec=60)
_MARKER = ".tfm-installed.json"
_INSTALL_TIMEOUT = 1800
# After a traceback shows in its log the converter is given this long to exit before it is ended.
_ERROR_GRACE_SECONDS = 3.0


class ConverterError(RuntimeError):
    """The converter could not be installed, failed, hung, or wrote nothing."""


# --- install -------------------------------------------------------------------------------------------


def default_tools_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    tools = Path(env["TFM_TOOLS_DIR"]).expanduser().resolve() if env.get("TFM_TOOLS_DIR") else REPO_ROOT / ".tfm" / "tools"
    return tools / f"focus-converter-{CONVERTER_VERSION}"


def _base_python() -> str:
    """A Python the pinned wheels exist for (numpy 1.26 stops at 3.12): this one if it fits, else 3.11/3.12."""
    override = os.environ.get("TFM_CONVERTER_PYTHON")
    if override:
        return override
    if sys.version_info[:2] in ((3, 11), (3, 12)):
        return sys.executable
    for name in ("python3.11", "python3.12"):
        found = shutil.which(name)
        if found:
            return found
    raise ConverterError("focus-converter needs Python 3.11 or 3.12; set TFM_CONVERTER_PYTHON to one")


def _clean_env() -> dict[str, str]:
    """The environment for the converter's own interpreter: nothing of this process's Python leaks in."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PYTHONNOUSERSITE"] = "1"
    return env


def _marker_payload() -> dict[str, Any]:
    return {"converter": CONVERTER_VERSION, "requirements": list(PINNED_REQUIREMENTS)}


def _installed(tools_dir: Path) -> bool:
    marker = tools_dir / _MARKER
    if not marker.is_file() or not (tools_dir / "bin" / CONSOLE_SCRIPT).is_file():
        return False
    try:
        return json.loads(marker.read_text()) == _marker_payload()
    except (OSError, ValueError):
        return False


def ensure_converter(tools_dir: Path | None = None) -> Path:
    """Install focus-converter into its own virtualenv unless it is there already; return its executable.

    Idempotent, and safe for parallel test workers: an exclusive ``flock`` on ``<tools_dir>.lock`` is held
    while checking and installing, and the install is only marked complete once pip has succeeded, so a
    half-made virtualenv is rebuilt from scratch next time.
    """
    tools_dir = Path(tools_dir).expanduser().resolve() if tools_dir is not None else default_tools_dir()
    executable = tools_dir / "bin" / CONSOLE_SCRIPT
    if _installed(tools_dir):
        return executable
    tools_dir.parent.mkdir(parents=True, exist_ok=True)
    lock_path = tools_dir.parent / f"{tools_dir.name}.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if _installed(tools_dir):  # another worker finished while this one waited
                return executable
            if tools_dir.exists():
                shutil.rmtree(tools_dir)
            env = _clean_env()
            _run_install([_base_python(), "-m", "venv", str(tools_dir)], env)
            pip = [str(tools_dir / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
            _run_install([*pip, "install", "--quiet", *PINNED_REQUIREMENTS], env)
            if not executable.is_file():
                raise ConverterError(f"pip installed focus-converter but {executable} is missing")
            (tools_dir / _MARKER).write_text(json.dumps(_marker_payload(), indent=2) + "\n")
            return executable
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _run_install(command: list[str], env: dict[str, str]) -> None:
    try:
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=_INSTALL_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise ConverterError(f"timed out after {_INSTALL_TIMEOUT}s: {' '.join(command[:4])} ...") from exc
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
        raise ConverterError(f"{' '.join(command[:4])} ... failed (exit {done.returncode}):\n{tail}")


# --- run -----------------------------------------------------------------------------------------------


def converter_command(executable: Path, cur_csv: Path, out_dir: Path) -> list[str]:
    """The command line that converts one legacy CUR CSV to FOCUS parquet files in ``out_dir``."""
    return [
        str(executable),
        "convert",
        "--provider",
        PROVIDER,
        "--data-format",
        "csv",
        "--data-path",
        str(cur_csv),
        "--export-path",
        str(out_dir),
        "--export-format",
        "parquet",
        "--basename-template",
        "focus",  # files become focus-0.parquet, focus-1.parquet, ...
    ]


def run_focus_converter(
    cur_csv: Path,
    out_dir: Path,
    *,
    timeout: float = 300,
    tools_dir: Path | None = None,
) -> Path:
    """Convert ``cur_csv`` (a legacy CUR CSV) with focus-converter into ``out_dir``; return ``out_dir``.

    ``out_dir`` is created, and must not already hold parquet files. The converter never exits after an
    error, so a run is ended (its whole process group) when its log shows a traceback or when ``timeout``
    seconds have passed, and ``ConverterError`` carries the end of its log.
    """
    cur_csv = Path(cur_csv).resolve()
    out_dir = Path(out_dir).resolve()
    if not cur_csv.is_file():
        raise FileNotFoundError(cur_csv)
    out_dir.mkdir(parents=True, exist_ok=True)
    if any(out_dir.glob("*.parquet")):
        raise ConverterError(f"{out_dir} already holds parquet files; give the converter an empty folder")
    executable = ensure_converter(tools_dir)
    command = converter_command(executable, cur_csv, out_dir)
    log_path = out_dir.parent / f"{out_dir.name}.converter.log"
    started = time.monotonic()
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**_clean_env(), "COLUMNS": "200", "TERM": "dumb"},
            cwd=out_dir,
            start_new_session=True,
        )
        failed_at: float | None = None
        while process.poll() is None:
            now = time.monotonic()
            if now - started > timeout:
                _kill_group(process)
                raise ConverterError(f"focus-converter did not finish in {timeout:.0f}s:\n{_tail(log_path)}")
            if failed_at is None and "Traceback" in _read(log_path):
                failed_at = now
            if failed_at is not None and now - failed_at > _ERROR_GRACE_SECONDS:
                _kill_group(process)
                raise ConverterError(f"focus-converter failed (and hung):\n{_tail(log_path)}")
            time.sleep(0.1)
    if process.returncode != 0 or "Traceback" in _read(log_path):
        raise ConverterError(f"focus-converter exited {process.returncode}:\n{_tail(log_path)}")
    if not any(out_dir.glob("*.parquet")):
        raise ConverterError(f"focus-converter wrote no parquet file to {out_dir}:\n{_tail(log_path)}")
    return out_dir


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def _tail(path: Path, lines: int = 25) -> str:
    return "\n".join(_read(path).strip().splitlines()[-lines:])


# --- totals --------------------------------------------------------------------------------------------


def to_decimal(value: Any) -> Decimal | None:
    """Money as an exact Decimal. Floats go through their shortest text (``repr``), which gives back the
    decimal that was parsed into them, so ``0.003314403`` stays ``0.003314403``."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        raise TypeError(f"not money: {value!r}")
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return Decimal(repr(value))
    if isinstance(value, int):
        return Decimal(value)
    text = str(value).strip()
    if text == "" or text.lower() in ("nan", "null", "none"):
        return None
    return Decimal(text)


def _utc_date(value: Any) -> date | None:
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value.date()
    if isinstance(value, date):
        return value
    return pd.Timestamp(value).tz_localize(None).date()


def _first_present(names: Iterable[str], candidates: tuple[str, ...], what: str) -> str:
    names = list(names)
    for candidate in candidates:
        if candidate in names:
            return candidate
    raise ConverterError(f"the converter's output has no {what} column (looked for {', '.join(candidates)})")


def _parquet_files(output: Path) -> list[Path]:
    output = Path(output)
    files = [output] if output.is_file() else sorted(output.glob("*.parquet"))
    if not files:
        raise ConverterError(f"no parquet file in {output}")
    return files


def converter_rows(output: Path) -> pd.DataFrame:
    """The converter's rows with the four columns the comparison needs, money as Decimal.

    Columns: service_name, charge_date (UTC date of ChargePeriodStart), billed_cost, effective_cost.
    """
    import pyarrow.parquet as pq

    frames = []
    for file in _parquet_files(output):
        names = pq.read_schema(file).names
        service = _first_present(names, ("ServiceName",), "ServiceName")
        start = _first_present(names, ("ChargePeriodStart", "UsageStart"), "ChargePeriodStart")
        billed = _first_present(names, ("BilledCost",), "BilledCost")
        effective = _first_present(names, ("EffectiveCost", "AmortizedCost"), "EffectiveCost/AmortizedCost")
        table = pq.read_table(file, columns=[service, start, billed, effective])
        frames.append(
            pd.DataFrame(
                {
                    "service_name": table.column(service).to_pylist(),
                    "charge_date": [_utc_date(v) for v in table.column(start).to_pylist()],
                    "billed_cost": [to_decimal(v) for v in table.column(billed).to_pylist()],
                    "effective_cost": [to_decimal(v) for v in table.column(effective).to_pylist()],
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def _daily(records: Iterable[tuple[Any, date | None, Decimal | None, Decimal | None]]) -> pd.DataFrame:
    groups: dict[tuple[Any, date | None], list] = {}
    with localcontext(_EXACT):
        for service, day, billed, effective in records:
            group = groups.setdefault((service, day), [0, Decimal(0), Decimal(0), 0, 0])
            group[0] += 1
            if billed is not None:
                group[1] += billed
            else:
                group[3] += 1
            if effective is not None:
                group[2] += effective
            else:
                group[4] += 1
    rows = [
        (service, day, n, billed, effective)
        for (service, day), (n, billed, effective, _, _) in sorted(
            groups.items(), key=lambda item: (str(item[0][0]), item[0][1] or date.min)
        )
    ]
    frame = pd.DataFrame(rows, columns=TOTAL_COLUMNS)
    frame.attrs["null_billed"] = sum(g[3] for g in groups.values())
    frame.attrs["null_effective"] = sum(g[4] for g in groups.values())
    return frame


def converter_daily_totals(output: Path) -> pd.DataFrame:
    """Rows, BilledCost and EffectiveCost per ServiceName and UTC day of ChargePeriodStart, as Decimal."""
    detail = converter_rows(output)
    return _daily(
        zip(detail["service_name"], detail["charge_date"], detail["billed_cost"], detail["effective_cost"])
    )


def tfm_daily_totals(con, source_file_like: str) -> pd.DataFrame:
    """The same totals from ``marts.fct_focus_charges``, for the rows whose x_source_file is LIKE the pattern.

    Money is summed in DuckDB as DECIMAL(38, 18) and fetched as Decimal (never through a float frame);
    the day is ChargePeriodStart's date in UTC whether the column is TIMESTAMP (UTC by convention) or
    TIMESTAMP WITH TIME ZONE.
    """
    kind = con.execute(
        "SELECT data_type FROM information_schema.columns "
        "WHERE table_schema = 'marts' AND table_name = 'fct_focus_charges' AND column_name = 'ChargePeriodStart'"
    ).fetchone()
    if kind is None:
        raise LookupError("marts.fct_focus_charges (with ChargePeriodStart) does not exist")
    if "TIME ZONE" in kind[0].upper():
        day = "CAST(timezone('UTC', ChargePeriodStart) AS DATE)"
    else:
        day = "CAST(ChargePeriodStart AS DATE)"
    records = con.execute(
        f"""
        SELECT ServiceName, {day} AS charge_date,
               CAST(BilledCost AS DECIMAL(38, 18)), CAST(EffectiveCost AS DECIMAL(38, 18))
        FROM marts.fct_focus_charges
        WHERE x_source_file LIKE ?
        """,
        [source_file_like],
    ).fetchall()
    return _daily(records)


# --- compare -------------------------------------------------------------------------------------------


def load_differences(path: Path | None = None) -> dict:
    """The documented converter differences (``dbt_project/focus_converter_differences.yml``)."""
    import yaml

    with open(path or DIFFERENCES_FILE) as handle:
        data = yaml.safe_load(handle) or {}
    data.setdefault("service_name_aliases", {})
    data.setdefault("differences", [])
    return data


def cents(value: Decimal | None) -> Decimal:
    with localcontext(_EXACT):
        return (value or Decimal(0)).quantize(CENT, rounding=ROUND_HALF_UP)


def _covered(differences: Mapping, measure: str, names: set[Any], day: date | None) -> str | None:
    """The id of a documented difference that explains a mismatch of ``measure`` on (service, day)."""
    for case in differences.get("differences") or []:
        if measure not in (case.get("measures") or []):
            continue
        where = case.get("where") or {}
        services = where.get("service_name")
        if services is not None:
            services = {services} if isinstance(services, str) else set(services)
            if not services & names:
                continue
        days = where.get("charge_date")
        if days is not None:
            days = {days} if not isinstance(days, list) else set(days)
            if not {str(d) for d in days} & {str(day)}:
                continue
        return case.get("id", "?")
    return None


def compare(converter: pd.DataFrame, tfm: pd.DataFrame, differences: Mapping) -> list[str]:
    """Every (service, day) where rows, BilledCost or EffectiveCost (rounded to the cent) differ, and a
    different total row count, less what a documented difference explains. Empty means they agree.

    Service names on both sides go through ``differences["service_name_aliases"]`` first (the converter's
    product codes to FOCUS display names), so tfm may use either. A documented case explains a mismatch
    when its ``measures`` name the measure and its optional ``where`` (service_name, charge_date) matches.
    """
    aliases = differences.get("service_name_aliases") or {}

    def canonical(frame: pd.DataFrame) -> dict[tuple[Any, Any], dict[str, Any]]:
        out: dict[tuple[Any, Any], dict[str, Any]] = {}
        with localcontext(_EXACT):
            for row in frame.itertuples(index=False):
                key = (aliases.get(row.service_name, row.service_name), row.charge_date)
                slot = out.setdefault(
                    key,
                    {"names": set(), "rows": 0, "billed_cost": Decimal(0), "effective_cost": Decimal(0)},
                )
                slot["names"].add(row.service_name)
                slot["rows"] += int(row.rows)
                slot["billed_cost"] += to_decimal(row.billed_cost) or Decimal(0)
                slot["effective_cost"] += to_decimal(row.effective_cost) or Decimal(0)
        return out

    left, right = canonical(converter), canonical(tfm)
    empty = {"names": set(), "rows": 0, "billed_cost": Decimal(0), "effective_cost": Decimal(0)}
    problems: list[str] = []
    for key in sorted(set(left) | set(right), key=lambda k: (str(k[0]), str(k[1]))):
        ours, theirs = right.get(key, empty), left.get(key, empty)
        names = {key[0]} | ours["names"] | theirs["names"]
        service, day = key
        for measure in MEASURES:
            a, b = theirs[measure], ours[measure]
            if measure != "rows":
                a, b = cents(a), cents(b)
            if a == b or _covered(differences, measure, names, day):
                continue
            problems.append(f"{service} {day}: {measure} converter {a} != tfm {b}")
    total_left = sum(v["rows"] for v in left.values())
    total_right = sum(v["rows"] for v in right.values())
    if total_left != total_right and not _covered(differences, "row_count", set(), None):
        problems.append(f"row count: converter {total_left} != tfm {total_right}")
    for name, frame in (("converter", converter), ("tfm", tfm)):
        for measure in ("billed", "effective"):
            nulls = frame.attrs.get(f"null_{measure}", 0)
            if nulls:
                problems.append(f"{name}: {nulls} row(s) with a null {measure.title()}Cost")
    return problems
