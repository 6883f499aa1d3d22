"""What the tfm command line prints, run as a user runs it (a subprocess, its output a pipe, not a terminal).

Quiet by default: tfm's own lines and a summary; Dagster's log, dbt's output and Python's warnings go to
$TFM_HOME/logs/tfm.log, and ``tfm -v`` shows them live too. No colour codes when the output is not a terminal. A
failure ends in one ``error:`` line.
"""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from tests.conftest import FOCUS_CSV, put

TFM = Path(sys.executable).with_name("tfm")
ANSI = "\x1b["
# A line of Dagster's console logger: "<time> - dagster - INFO - <job> - <run id> - <step> - <message>".
DAGSTER_LINE = re.compile(r" - dagster - (DEBUG|INFO|WARNING|ERROR|CRITICAL) - ", re.MULTILINE)
# dbt's line for each node it builds or tests.
DBT_NODE = re.compile(r"^\d+ of \d+ (START|OK|PASS|WARN|ERROR|FAIL|SKIP)\b", re.MULTILINE)
# A Python warning as the warnings module shows it (UserWarning, BetaWarning, DeprecationWarning...).
PYTHON_WARNING = re.compile(r"\b\w+Warning\b")
# The two dbt tests that warn on the bundled FOCUS 1.0 sample (stg_focus__charges).
EXPECTED_WARNINGS = {
    "accepted_values_stg_focus__charges_ChargeFrequency__One_Time__Recurring__Usage_Based": "1 unexpected value(s)",
    "not_null_stg_focus__charges_ContractedCost": "7 row(s)",
}


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    @property
    def lines(self) -> list[str]:
        return [line for line in self.output.splitlines() if line.strip()]


def tfm(home: Path, *args: str, **extra: str) -> Run:
    drop = ("TFM_", "DAGSTER_HOME", "DBT_")
    env = {key: value for key, value in os.environ.items() if not key.startswith(drop)}
    env.update(TFM_HOME=str(home), **extra)
    done = subprocess.run(
        [str(TFM), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tempfile.gettempdir(),
        check=False,
    )
    return Run(done.returncode, done.stdout, done.stderr)


def log_text(home: Path) -> str:
    return (home / "logs" / "tfm.log").read_text()


def assert_quiet(run: Run, max_lines: int) -> None:
    assert not DAGSTER_LINE.search(run.output), run.output
    assert not DBT_NODE.search(run.output), run.output
    assert not PYTHON_WARNING.search(run.output), run.output
    assert ANSI not in run.output
    assert len(run.lines) <= max_lines, run.output


@pytest.fixture(scope="module")
def focus_home(tmp_path_factory) -> tuple[Path, Run, Run]:
    """The FOCUS 1.0 sample (two billing periods) ingested, and its staging model built with its tests."""
    home = tmp_path_factory.mktemp("cli-output") / "tfm"
    put(home / "landing", FOCUS_CSV)
    ingest = tfm(home, "ingest")
    build = tfm(home, "build", "--select", "stg_focus__charges")
    return home, ingest, build


def test_ingest_prints_a_line_per_period_and_a_summary_and_logs_dagster(focus_home):
    home, ingest, _ = focus_home
    assert ingest.returncode == 0, ingest.output
    assert_quiet(ingest, max_lines=16)
    periods = [
        line for line in ingest.stderr.splitlines() if re.match(r"\[\d/2\] loaded in \d+\.\ds: ", line)
    ]
    assert [p.split(": ", 1)[1] for p in periods] == ["2024-09: focus", "2024-10: focus"]
    # The summary: every period loaded, its rows and billed cost, on standard output.
    table = [line.split() for line in ingest.stdout.splitlines()]
    assert ["2024-09", "AWS", "focus", "942", "18.01", "USD"] in table
    assert ["2024-10", "Oracle", "focus", "1", "0.24", "USD"] in table
    assert "loaded 2 billing period(s), 1,000 rows" in ingest.stdout
    # Dagster's log lines, and what the assets logged, are in the log file.
    log = log_text(home)
    assert DAGSTER_LINE.search(log)
    assert "focus 2024-09: 999 rows from focus_sample.csv" in log
    assert f"scanning {(home / 'landing' / FOCUS_CSV.name).resolve()}" in log
    assert ANSI not in log


def test_build_counts_dbt_results_and_explains_its_warnings(focus_home):
    home, _, build = focus_home
    assert build.returncode == 0, build.output
    assert_quiet(build, max_lines=12)
    summary = r"^dbt: PASS (\d+) WARN (\d+) ERROR (\d+) SKIP (\d+) \((\d+) models, seeds and tests\)$"
    counts = re.search(summary, build.stdout, re.MULTILINE)
    assert counts, build.stdout
    passed, warned, errors, skipped, total = map(int, counts.groups())
    assert (warned, errors, skipped) == (2, 0, 0) and passed + warned == total and passed > 10
    # The same counts as dbt's own last line, which went to the log file with every node's line.
    log = log_text(home)
    assert f"Done. PASS={passed} WARN=2 ERROR=0 SKIP=0" in log
    assert len(DBT_NODE.findall(log)) >= 2 * total
    assert ANSI not in log
    # One line per warning: the test, what it found, and its description saying why it is expected.
    for name, found in EXPECTED_WARNINGS.items():
        line = next(line for line in build.stdout.splitlines() if line.strip().startswith(f"WARN {name}:"))
        assert f": {found}. Expected to warn on the bundled FOCUS 1.0 sample" in line


def test_verbose_shows_dagster_and_dbt_logs_live(focus_home):
    home, _, _ = focus_home
    build = tfm(home, "-v", "build", "--select", "stg_focus__charges")
    assert build.returncode == 0, build.output
    assert DAGSTER_LINE.search(build.stderr)
    assert DBT_NODE.search(build.stderr)
    assert ANSI not in build.output  # not a terminal: no colour codes, dbt's included
    assert re.search(r"^dbt: PASS \d+ WARN 2 ERROR 0 SKIP 0 ", build.stdout, re.MULTILINE)


def test_a_locked_warehouse_fails_in_one_line(focus_home):
    home, _, _ = focus_home
    holder = duckdb.connect(str(home / "warehouse.duckdb"))
    try:
        build = tfm(home, "build", TFM_LOCK_TIMEOUT="1")
    finally:
        holder.close()
    assert build.returncode == 1
    assert_quiet(build, max_lines=3)
    errors = [line for line in build.lines if line.startswith("error:")]
    assert errors == [build.lines[-1]], build.output
    assert f"PID {os.getpid()}" in errors[0] and "TFM_LOCK_TIMEOUT" in errors[0], errors[0]
    assert "Traceback" not in build.output
    assert "WarehouseLockedError" in log_text(home)  # the full trace


def test_a_bad_file_fails_in_one_line(tmp_path):
    home = tmp_path / "tfm"
    bad = home / "landing" / "broken.csv"
    bad.parent.mkdir(parents=True)
    bad.write_text("a,b\n1,2\n")
    ingest = tfm(home, "ingest")
    assert ingest.returncode == 1
    assert_quiet(ingest, max_lines=3)
    assert ingest.lines[-1].startswith(f"error: rejected {bad.resolve()}: unknown file shape"), ingest.output
    assert sum(line.startswith("error:") for line in ingest.lines) == 1


def test_progress_bars_only_on_a_terminal(tmp_path):
    """The generator's rows as a bar on a terminal (standard error a pseudo-terminal), not in a pipe."""
    args = ["generate", "--out", "", "--format", "cur2", "--months", "3", "--rows", "20000", "--seed", "1"]
    piped = tfm(tmp_path / "tfm", *[str(tmp_path / "piped") if a == "" else a for a in args])
    assert piped.returncode == 0, piped.output
    assert "generating" not in piped.output and ANSI not in piped.output and "\r" not in piped.output
    main, secondary = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TFM_", "DAGSTER_HOME"))}
    env.update(TFM_HOME=str(tmp_path / "tfm"), TERM="xterm", COLUMNS="100")
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen(
        [str(TFM), *[str(tmp_path / "terminal") if a == "" else a for a in args]],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=secondary,
        cwd=tempfile.gettempdir(),
    )
    os.close(secondary)
    drawn = b""
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # the terminal closed: the command ended
            break
        if not chunk:
            break
        drawn += chunk
    os.close(main)
    assert proc.wait(timeout=300) == 0
    text = drawn.decode(errors="replace")
    assert "generating 2026-01" in text and ANSI in text
    assert "wrote 60,000 rows" in text


def test_python_warnings_go_to_the_log_file(tmp_path, capsys):
    """A warning Python shows during a command (Dagster's beta and deprecation warnings) is logged, not printed."""
    import warnings

    from orchestration import console

    log = tmp_path / "logs" / "tfm.log"
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        with console.capture(log):
            warnings.warn("an asset check API is in beta", UserWarning, stacklevel=1)
            print("a line dbt printed")
            console.say("what tfm says")
    printed = capsys.readouterr()
    assert "beta" not in printed.out + printed.err and "a line dbt printed" not in printed.out
    assert printed.err == "what tfm says\n"
    text = log.read_text()
    assert "UserWarning: an asset check API is in beta" in text
    assert "a line dbt printed" in text and "what tfm says" in text
