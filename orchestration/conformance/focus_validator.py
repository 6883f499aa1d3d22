"""Run the FinOps Foundation's ``focus-validator`` on a FOCUS dataset and read its verdict.

The validator (PyPI ``focus-validator`` 2.2.1) needs Python 3.12 and ``pyarrow<21``, which the project's
own environment cannot give it, so it lives in a virtualenv of its own that this module creates on first
use, from the exact versions pinned in :data:`VALIDATOR_PINS`:

- where: ``<tools dir>/focus-validator-2.2.1``; the tools dir is the ``tools_dir`` argument, else
  ``$TFM_TOOLS_DIR``, else ``<repo>/.tfm/tools`` (``.tfm/`` is ignored by git);
- which Python: ``$TFM_VALIDATOR_PYTHON`` if set, else the newest pyenv 3.12, else ``python3.12`` on PATH;
- creation holds an exclusive ``flock`` on ``<tools dir>/focus-validator-2.2.1.lock`` and ends by writing a
  marker file, so parallel test workers wait for one another and a half-built env is rebuilt.

The validator exits 0 whether rules pass or fail, so the verdict is read from its report (the
``Total: | Pass: | Fail: | Skipped:`` line and the per-rule lines of its console output), never from its
exit code. It opens ``focus_validator/rules/currency_codes.csv`` relative to its working directory, so
each run gets a fresh working directory holding a copy of that file from the installed package. It is
always handed parquet: from CSV it would read identifiers such as 12-digit account ids as numbers.

Rules that no dataset can satisfy are listed, with the reason, in
``dbt_project/focus_validator_exceptions.yml``; :func:`unexpected_failures` leaves those out.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestration.ingest.schema import FOCUS_1_2_COLUMNS
from orchestration.quoting import lit, q

VALIDATOR_VERSION = "2.2.1"
DEFAULT_FOCUS_VERSION = "1.2.0.1"
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_EXCEPTIONS_FILE = REPO_ROOT / "dbt_project" / "focus_validator_exceptions.yml"
ENV_NAME = f"focus-validator-{VALIDATOR_VERSION}"

# Everything installed into the validator's env, resolved once for Python 3.12 on linux x86_64 and
# pinned so that every machine gets the same set. ``pyarrow<21`` is the validator's own requirement.
VALIDATOR_PINS: tuple[str, ...] = (
    "focus_validator==2.2.1",
    "annotated-types==0.8.0",
    "attrs==26.1.0",
    "certifi==2026.10.19.post1",
    "charset-normalizer==3.5.3",
    "ddt==1.7.2",
    "duckdb==1.5.6",
    "graphviz==0.21",
    "idna==3.20",
    "jsonschema==4.26.0",
    "jsonschema-specifications==2025.9.1",
    "multimethod==2.0.2",
    "mypy_extensions==1.2.0",
    "numpy==1.26.4",
    "packaging==26.4",
    "pandas==2.3.3",
    "pandasql==0.7.3",
    "pandera==0.26.1",
    "polars==1.44.2",
    "polars-runtime-32==1.44.2",
    "pyarrow==20.0.0",
    "pydantic==2.14.4",
    "pydantic_core==2.50.5",
    "python-dateutil==4.0.0",
    "pytz==2025.2",
    "PyYAML==6.0.4",
    "referencing==0.37.0",
    "requests==2.34.2",
    "rpds-py==2026.9.1",
    "SQLAlchemy==2.1.9",
    "sqlglot==27.29.0",
    "tabulate==0.10.0",
    "typeguard==4.6.1",
    "typing-inspect==0.9.0",
    "typing-inspection==0.4.5",
    "typing_extensions==4.16.0",
    "tzdata==2026.6",
    "urllib3==2.8.0",
)
REQUIRED_PYTHON = (3, 12)
_PY = ".".join(map(str, REQUIRED_PYTHON))


INSTALL_TIMEOUT_S = 1800
VALIDATE_TIMEOUT_S = 1800

_RULE_ID = r"[A-Za-z][A-Za-z0-9]*-[A-Z]-\d{3}-[A-Z]"
_TOTALS_RE = re.compile(
    r"^Total:\s*(\d+)\s*\|\s*Pass:\s*(\d+)\s*\|\s*Fail:\s*(\d+)\s*\|\s*Skipped:\s*(\d+)\s*$"
)
_STATUS_RE = re.compile(rf"^\S*\s*({_RULE_ID}):\s+(PASS|FAIL|SKIPPED)\b")
_FAILURE_RE = re.compile(rf"^- ({_RULE_ID}): violations=([^;]*); ?(.*)$")
_MUST_SATISFY_RE = re.compile(r"^\s+MustSatisfy:\s?(.*)$")
_FAILED_CHILDREN_RE = re.compile(
    r"AND failed - failed child rules: \[([^\]]*)\]|OR failed - all child rules failed: \[([^\]]*)\]"
)


class ValidatorError(RuntimeError):
    """The validator could not be installed or did not produce a report (not a verdict on the data)."""


@dataclass
class RuleFailure:
    rule_id: str
    message: str
    violations: int | None = None
    must_satisfy: str = ""


@dataclass
class ValidatorReport:
    total: int
    passed: int
    failed: int
    skipped: int
    failures: list[RuleFailure]
    raw_report: Path
    statuses: dict[str, str] = field(default_factory=dict)  # rule id -> PASS / FAIL / SKIPPED
    command: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failed_rule_ids(self) -> set[str]:
        return {failure.rule_id for failure in self.failures}


# --------------------------------------------------------------------------------------------------
# The validator's environment
# --------------------------------------------------------------------------------------------------


def default_tools_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    configured = env.get("TFM_TOOLS_DIR")
    return Path(configured).expanduser() if configured else REPO_ROOT / ".tfm" / "tools"


def _env_dir(tools_dir: Path | None) -> Path:
    return (Path(tools_dir).expanduser() if tools_dir else default_tools_dir()).resolve() / ENV_NAME


def _venv_python(env_dir: Path) -> Path:
    return env_dir / "bin" / "python"


def _clean_env() -> dict[str, str]:
    """The caller's environment without what would make another interpreter load the wrong things."""
    env = dict(os.environ)
    for name in (
        "PYTHONPATH",
        "PYTHONHOME",
        "PYTHONSTARTUP",
        "PYTHONUSERBASE",
        "VIRTUAL_ENV",
        "__PYVENV_LAUNCHER__",
    ):
        env.pop(name, None)
    env.setdefault("PYTHONIOENCODING", "utf-8")
    return env


def _python_version(executable: str) -> tuple[int, int] | None:
    try:
        out = subprocess.run(
            [executable, "-I", "-c", "import sys; print(*sys.version_info[:2], sep='.')"],
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
            env=_clean_env(),
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    major, _, minor = out.stdout.strip().partition(".")
    try:
        return int(major), int(minor)
    except ValueError:
        return None


def _pyenv_candidates() -> list[str]:
    roots: list[Path] = []
    if os.environ.get("PYENV_ROOT"):
        roots.append(Path(os.environ["PYENV_ROOT"]))
    pyenv = shutil.which("pyenv")
    if pyenv:
        try:
            out = subprocess.run([pyenv, "root"], check=False, capture_output=True, text=True, timeout=60)
            if out.returncode == 0 and out.stdout.strip():
                roots.append(Path(out.stdout.strip()))
        except (OSError, subprocess.SubprocessError):
            pass
    roots.append(Path.home() / ".pyenv")
    found: list[tuple[tuple[int, ...], str]] = []
    seen: set[Path] = set()
    wanted = f"{_PY}."
    for root in roots:
        versions = root / "versions"
        if versions in seen or not versions.is_dir():
            continue
        seen.add(versions)
        for entry in versions.iterdir():
            if not entry.name.startswith(wanted):
                continue
            exe = entry / "bin" / f"python{_PY}"
            if exe.exists():
                key = tuple(int(p) if p.isdigit() else -1 for p in re.split(r"[.\-]", entry.name))
                found.append((key, str(exe)))
    return [exe for _, exe in sorted(found, reverse=True)]


def find_python312() -> str:
    """An interpreter for the validator's env: ``$TFM_VALIDATOR_PYTHON``, a pyenv 3.12, or ``python3.12``."""
    candidates: list[str] = []
    explicit = os.environ.get("TFM_VALIDATOR_PYTHON")
    if explicit:
        candidates.append(explicit)
    candidates.extend(_pyenv_candidates())
    on_path = shutil.which(f"python{_PY}")
    if on_path:
        candidates.append(on_path)
    tried = []
    for candidate in dict.fromkeys(candidates):
        version = _python_version(candidate)
        if version == REQUIRED_PYTHON:
            return candidate
        tried.append(f"{candidate} ({'.'.join(map(str, version)) if version else 'does not run'})")
    wanted = _PY
    raise ValidatorError(
        f"focus-validator {VALIDATOR_VERSION} needs Python {wanted}, and none was found "
        f"(looked at $TFM_VALIDATOR_PYTHON, pyenv's versions/{wanted}.* and python{wanted} on PATH"
        + (f"; tried: {', '.join(tried)}" if tried else "")
        + f"). Install Python {wanted} (e.g. `pyenv install {wanted}`) or point TFM_VALIDATOR_PYTHON at one."
    )


def _marker_payload() -> str:
    digest = hashlib.sha256("\n".join(VALIDATOR_PINS).encode()).hexdigest()
    return json.dumps({"validator": VALIDATOR_VERSION, "pins_sha256": digest}, sort_keys=True)


def _is_ready(env_dir: Path) -> bool:
    marker = env_dir / ".tfm-ready"
    try:
        return _venv_python(env_dir).exists() and marker.read_text() == _marker_payload()
    except OSError:
        return False


@contextmanager
def _exclusive_lock(path: Path):
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _run_checked(cmd: list[str], what: str, timeout: float) -> None:
    try:
        out = subprocess.run(
            cmd, check=False, capture_output=True, text=True, timeout=timeout, env=_clean_env()
        )
    except subprocess.TimeoutExpired as exc:
        raise ValidatorError(f"{what} took longer than {timeout:.0f} s: {' '.join(cmd)}") from exc
    if out.returncode != 0:
        tail = "\n".join((out.stdout + "\n" + out.stderr).strip().splitlines()[-40:])
        raise ValidatorError(f"{what} failed (exit {out.returncode}): {' '.join(cmd)}\n{tail}")


def ensure_validator(tools_dir: Path | None = None) -> Path:
    """Create (once) the validator's own virtualenv and return its Python interpreter.

    Idempotent and safe to call from parallel processes: creation happens under an exclusive file lock,
    and an env is only used once its marker (written last) matches the pinned versions.
    """
    env_dir = _env_dir(tools_dir)
    python = _venv_python(env_dir)
    if _is_ready(env_dir):
        return python
    with _exclusive_lock(env_dir.parent / f"{ENV_NAME}.lock"):
        if _is_ready(env_dir):  # another process built it while this one waited
            return python
        if env_dir.exists():
            shutil.rmtree(env_dir)
        base = find_python312()
        try:
            _run_checked([base, "-I", "-m", "venv", str(env_dir)], "creating the validator's virtualenv", 600)
            _run_checked(
                [
                    str(python),
                    "-I",
                    "-m",
                    "pip",
                    "install",
                    "--disable-pip-version-check",
                    "--no-input",
                    "--quiet",
                    *VALIDATOR_PINS,
                ],
                f"installing focus-validator {VALIDATOR_VERSION}",
                INSTALL_TIMEOUT_S,
            )
            _run_checked(
                [str(python), "-I", "-c", "import focus_validator.main"], "importing focus_validator", 300
            )
            _currency_codes_file(python)
        except BaseException:
            shutil.rmtree(env_dir, ignore_errors=True)
            raise
        marker = env_dir / ".tfm-ready"
        tmp = marker.with_suffix(".tmp")
        tmp.write_text(_marker_payload())
        tmp.replace(marker)
    return python


def _currency_codes_file(python: Path) -> Path:
    """The ``currency_codes.csv`` shipped inside the installed ``focus_validator`` package."""
    env_dir = python.parent.parent
    for candidate in sorted(
        env_dir.glob("lib/python3*/site-packages/focus_validator/rules/currency_codes.csv")
    ):
        return candidate
    raise ValidatorError(
        f"focus_validator/rules/currency_codes.csv is missing from the validator env {env_dir}"
    )


# --------------------------------------------------------------------------------------------------
# Running it
# --------------------------------------------------------------------------------------------------


def _single_parquet(data: Path, work_dir: Path) -> Path:
    """The one parquet file to hand the validator: ``data`` itself, or the files under a folder merged."""
    if data.is_dir():
        files = sorted(p for p in data.rglob("*.parquet") if p.is_file())
        if not files:
            raise ValueError(f"no parquet files under {data}")
        if len(files) == 1:
            return files[0]
        import duckdb

        merged = work_dir / "focus-data.parquet"
        listing = ", ".join(lit(f) for f in files)
        con = duckdb.connect()
        try:
            con.execute(
                f"COPY (SELECT * FROM read_parquet([{listing}], hive_partitioning = false, union_by_name = true)) "
                f"TO {lit(merged)} (FORMAT parquet)"
            )
        finally:
            con.close()
        return merged
    if not data.is_file():
        raise FileNotFoundError(data)
    if data.suffix.lower() != ".parquet":
        raise ValueError(
            f"{data}: hand the validator parquet with typed columns (it reads identifiers in CSV as numbers); "
            "export_focus_parquet() writes one"
        )
    return data


def run_focus_validator(
    data: Path,
    *,
    version: str = DEFAULT_FOCUS_VERSION,
    tools_dir: Path | None = None,
    report_dir: Path | None = None,
    show_violations: bool = False,
) -> ValidatorReport:
    """Validate a FOCUS parquet file (or a folder of them) and return the validator's verdict.

    The console report, the validator's stderr and its log are kept in ``report_dir`` (a new temporary
    folder unless given); ``raw_report`` is the console report, which with ``show_violations`` also holds
    up to two offending rows per failed rule (a few seconds more). Raises :class:`ValidatorError` if the
    validator produced no readable report.
    """
    python = ensure_validator(tools_dir)
    data = Path(data).resolve()
    if report_dir is None:
        work_dir = Path(tempfile.mkdtemp(prefix="focus-validator-"))
    else:
        work_dir = Path(report_dir).resolve()
        work_dir.mkdir(parents=True, exist_ok=True)
    parquet = _single_parquet(data, work_dir)

    # The validator opens this path relative to its working directory.
    codes = work_dir / "focus_validator" / "rules" / "currency_codes.csv"
    codes.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_currency_codes_file(python), codes)

    command = [
        str(python), "-I", "-m", "focus_validator.main",
        "--data-file", str(parquet),
        "--validate-version", version,
        "--applicability-criteria", "ALL",
        "--block-download",
    ]  # fmt: skip
    if show_violations:
        command.append("--show-violations")
    raw_report = work_dir / "focus-validator-report.txt"
    stderr_file = work_dir / "focus-validator-stderr.txt"
    started = time.monotonic()
    try:
        out = subprocess.run(
            command,
            check=False,
            cwd=work_dir,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            timeout=VALIDATE_TIMEOUT_S,
            env=_clean_env(),
        )
    except subprocess.TimeoutExpired as exc:
        raise ValidatorError(f"focus-validator took longer than {VALIDATE_TIMEOUT_S} s on {parquet}") from exc
    seconds = time.monotonic() - started
    raw_report.write_text(out.stdout, encoding="utf-8")
    stderr_file.write_text(out.stderr, encoding="utf-8")
    try:
        report = parse_console_report(out.stdout, raw_report)
    except ValidatorError as exc:
        tail = "\n".join(out.stderr.strip().splitlines()[-30:])
        raise ValidatorError(f"{exc} (exit {out.returncode}; report kept in {work_dir})\n{tail}") from None
    report.command = command
    report.seconds = seconds
    return report


def parse_console_report(text: str, raw_report: Path) -> ValidatorReport:
    """Read the validator's console output: the totals line, one status line per rule, the failures."""
    totals = None
    statuses: dict[str, str] = {}
    details: dict[str, RuleFailure] = {}
    in_failures = False
    last: RuleFailure | None = None
    for line in text.splitlines():
        if totals is None:
            match = _TOTALS_RE.match(line.strip())
            if match:
                totals = tuple(int(g) for g in match.groups())
                continue
        if line.strip() == "--- Failures ---":
            in_failures = True
            continue
        if not in_failures:
            match = _STATUS_RE.match(line)
            if match:
                statuses[match.group(1)] = match.group(2)
            continue
        match = _FAILURE_RE.match(line)
        if match:
            rule_id, violations, message = match.groups()
            last = RuleFailure(
                rule_id=rule_id,
                message=message.strip(),
                violations=int(violations) if violations.strip().isdigit() else None,
            )
            details[rule_id] = last
            continue
        match = _MUST_SATISFY_RE.match(line)
        if match and last is not None and not last.must_satisfy:
            last.must_satisfy = match.group(1).strip()
    if totals is None:
        raise ValidatorError("focus-validator printed no 'Total: | Pass: | Fail: | Skipped:' line")
    total, passed, failed, skipped = totals
    counted = {s: sum(1 for v in statuses.values() if v == s) for s in ("PASS", "FAIL", "SKIPPED")}
    if (len(statuses), counted["PASS"], counted["FAIL"], counted["SKIPPED"]) != (
        total,
        passed,
        failed,
        skipped,
    ):
        raise ValidatorError(
            f"focus-validator's per-rule lines ({len(statuses)} rules: {counted}) do not add up to its totals "
            f"(Total {total}, Pass {passed}, Fail {failed}, Skipped {skipped})"
        )
    failures = []
    for rule_id in sorted(r for r, s in statuses.items() if s == "FAIL"):
        failure = details.get(rule_id) or RuleFailure(rule_id=rule_id, message="failed")
        if failure.must_satisfy and failure.must_satisfy not in failure.message:
            failure.message = f"{failure.message} [MustSatisfy: {failure.must_satisfy}]"
        failures.append(failure)
    return ValidatorReport(
        total=total,
        passed=passed,
        failed=failed,
        skipped=skipped,
        failures=failures,
        raw_report=raw_report,
        statuses=statuses,
    )


# --------------------------------------------------------------------------------------------------
# Reading the verdict
# --------------------------------------------------------------------------------------------------


def load_exceptions(path: Path = DEFAULT_EXCEPTIONS_FILE) -> dict[str, str]:
    """Rule id -> reason, from ``focus_validator_exceptions.yml`` (``exceptions: [{rule_id, reason}, ...]``)."""
    import yaml

    document = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    entries = document.get("exceptions") or []
    exceptions: dict[str, str] = {}
    for entry in entries:
        rule_id = str(entry.get("rule_id") or "").strip()
        reason = " ".join(str(entry.get("reason") or "").split())
        if not re.fullmatch(_RULE_ID, rule_id):
            raise ValueError(f"{path}: not a validator rule id: {rule_id!r}")
        if not reason:
            raise ValueError(f"{path}: exception {rule_id} gives no reason")
        if rule_id in exceptions:
            raise ValueError(f"{path}: exception {rule_id} is listed twice")
        exceptions[rule_id] = reason
    return exceptions


def _failed_children(failure: RuleFailure) -> list[str] | None:
    match = _FAILED_CHILDREN_RE.search(failure.message)
    if not match:
        return None
    listed = match.group(1) if match.group(1) is not None else match.group(2)
    return [c.strip() for c in listed.split(",") if c.strip()]


def unexpected_failures(report: ValidatorReport, exceptions: Mapping[str, Any]) -> list[RuleFailure]:
    """The failures that are not excused: neither listed in ``exceptions`` nor a composite rule
    (``The X column adheres to the following requirements``) that failed only because of listed ones."""
    by_id = {failure.rule_id: failure for failure in report.failures}
    memo: dict[str, bool] = {}

    def excused(rule_id: str, stack: frozenset[str]) -> bool:
        if rule_id in exceptions:
            return True
        if rule_id in memo:
            return memo[rule_id]
        failure = by_id.get(rule_id)
        children = _failed_children(failure) if failure else None
        result = (
            bool(children)
            and rule_id not in stack
            and all(excused(child, stack | {rule_id}) for child in children)
        )
        memo[rule_id] = result
        return result

    return [failure for failure in report.failures if not excused(failure.rule_id, frozenset())]


# --------------------------------------------------------------------------------------------------
# Writing the validator's input
# --------------------------------------------------------------------------------------------------


def export_focus_parquet(con_or_db_path: Any, query_or_table: str, out_path: Path) -> Path:
    """Write a FOCUS dataset to parquet for the validator, with DuckDB's ``COPY ... TO``.

    ``con_or_db_path`` is an open DuckDB connection or the path of a DuckDB database (opened read-only);
    ``query_or_table`` a table or view name (``marts.fct_focus_charges``) or a ``SELECT``. Only FOCUS 1.2
    columns (in the specification's order) and ``x_`` columns are kept; types are kept as they are
    (DECIMAL stays DECIMAL, VARCHAR stays VARCHAR, a number stays a number, so the validator sees the
    data as it is), except that a TIMESTAMP without time zone is taken as UTC and written as an instant,
    and JSON / MAP / STRUCT values (Tags, SkuPriceDetails) are written as JSON text.
    """
    import duckdb

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    own = not isinstance(con_or_db_path, duckdb.DuckDBPyConnection)
    con = duckdb.connect(str(con_or_db_path), read_only=True) if own else con_or_db_path
    try:
        source = query_or_table.strip().rstrip(";")
        if not re.match(r"(?is)^\s*(select|with|from|values|\()", source):
            source = "SELECT * FROM " + source
        described = con.execute(f"DESCRIBE ({source})").fetchall()
        types = {row[0]: str(row[1]).upper() for row in described}
        focus = [c for c in FOCUS_1_2_COLUMNS if c in types]
        custom = [c for c in types if c.startswith("x_")]
        if not focus:
            raise ValueError(f"no FOCUS columns in {query_or_table!r}")
        select = []
        for name in focus + custom:
            kind = types[name]
            col = q(name)
            if kind == "TIMESTAMP" or kind.startswith("TIMESTAMP_") or kind == "DATETIME":
                expr = f"timezone('UTC', {col}::TIMESTAMP)"
            elif kind == "JSON":
                expr = f"{col}::VARCHAR"
            elif kind.startswith(("MAP", "STRUCT")):
                expr = f"to_json({col})::VARCHAR"
            else:
                expr = col
            select.append(f"{expr} AS {col}")
        tz = con.execute("SELECT current_setting('TimeZone')").fetchone()[0]
        con.execute("SET TimeZone = 'UTC'")
        try:
            con.execute(
                f"COPY (SELECT {', '.join(select)} FROM ({source}) AS focus_source) "
                f"TO {lit(out_path)} (FORMAT parquet, COMPRESSION zstd)"
            )
        finally:
            con.execute(f"SET TimeZone = {lit(tz)}")
    finally:
        if own:
            con.close()
    return out_path


def main(argv: list[str] | None = None) -> int:
    """``python -m orchestration.conformance.focus_validator DATA [EXCEPTIONS]``: validate and summarise."""
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print("usage: python -m orchestration.conformance.focus_validator DATA.parquet|DIR [EXCEPTIONS.yml]")
        return 2
    report = run_focus_validator(Path(args[0]), show_violations=True)
    exceptions = load_exceptions(Path(args[1]) if len(args) > 1 else DEFAULT_EXCEPTIONS_FILE)
    bad = unexpected_failures(report, exceptions)
    unexpected = {failure.rule_id for failure in bad}
    print(
        f"Total: {report.total} | Pass: {report.passed} | Fail: {report.failed} | Skipped: {report.skipped}"
    )
    for failure in report.failures:
        if failure.rule_id in exceptions:
            tag = "excepted"
        elif failure.rule_id in unexpected:
            tag = "FAIL"
        else:
            tag = "excused"  # a composite that failed only through excepted rules
        print(f"  {tag:8} {failure.rule_id}: {failure.message}")
    print(f"{len(bad)} unexpected failure(s); report: {report.raw_report}")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
