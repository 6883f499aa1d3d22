"""Faults around processes: the warehouse lock, killed commands, runs left behind, unwritable homes.

``tfm`` runs here as users run it, in a subprocess with ``TFM_HOME`` set to a temporary folder, and is killed
with SIGKILL at seeded random moments spread over a command's duration, plus once at the moment it writes
(the load of a period, the build of the FOCUS mart). After every kill the raw tables and the FOCUS mart hold,
per billing period, either the complete state before the command or the complete state it was writing,
never a mix; no dbt process survives its ``tfm build``; the next command marks the dead run failed and runs.

The warehouse is built once in full; the builds killed then select the FOCUS mart and the tables it is built
from. dbt's tests are left out (``DBT_INDIRECT_SELECTION=empty``; the mart's totals are checked here against
the raw tables) to keep the module within a few minutes: the kills and the lock do not depend on what is
selected.
"""

from __future__ import annotations

import csv
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from orchestration.processes import HOST_TAG, PID_TAG, STARTED_TAG, fail_dead_runs, process_tags
from orchestration.settings import DBT_PROJECT_DIR, REPO_ROOT, merge_dagster_yaml
from tests.conftest import FOCUS_CSV, LEGACY_CSV, dbt_children, processes_of

TFM = Path(sys.executable).with_name("tfm")
TFM_DBT = Path(sys.executable).with_name("tfm-dbt")
CWD = Path(tempfile.gettempdir())  # tfm runs from anywhere; TFM_HOME says where its files go
SEED = 20261204
# Everything once, as a user builds; then the FOCUS mart and the incremental models it is built from (the views
# follow the raw tables by themselves): every such build replaces the changed periods of fct_focus_charges.
FIRST_BUILD = ["build"]
BUILD = ["build", "--select", "+fct_focus_charges,config.materialized:incremental"]
RAW_COST = {
    "aws_cur_legacy": "line_item_unblended_cost",
    "aws_cur_athena": "line_item_unblended_cost",
    "aws_cur2": "line_item_unblended_cost",
    "focus": "BilledCost",
}
IN_PROGRESS = [
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


# --- running tfm ----------------------------------------------------------------------------------------


def tfm_env(home: Path, **extra: str) -> dict[str, str]:
    drop = ("TFM_", "DAGSTER_HOME", "DBT_")
    env = {key: value for key, value in os.environ.items() if not key.startswith(drop)}
    env.update(TFM_HOME=str(home), PYTHONUNBUFFERED="1", DBT_INDIRECT_SELECTION="empty", **extra)
    return env


def tfm(home: Path, *args: str, timeout: float = 900, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(TFM), *args],
        env=tfm_env(home, **extra),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=CWD,
        check=False,
    )


@dataclass
class Running:
    """A ``tfm`` command in the background, its output (stdout and stderr) in a file."""

    proc: subprocess.Popen
    log: Path
    started: float = field(default_factory=time.monotonic)

    @classmethod
    def start(cls, home: Path, *args: str, log: Path) -> Running:
        """With ``-v``: the kills wait for Dagster's and dbt's log lines (a load reading, dbt starting)."""
        handle = log.open("w")
        proc = subprocess.Popen(
            [str(TFM), "-v", *args], env=tfm_env(home), stdout=handle, stderr=subprocess.STDOUT, cwd=CWD
        )
        handle.close()
        return cls(proc, log)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, text: str, timeout: float = 600) -> float:
        """Seconds since start when ``text`` appeared in the output."""
        deadline = time.monotonic() + timeout
        while text not in self.output():
            assert self.proc.poll() is None, f"tfm ended before {text!r}:\n{self.output()[-3000:]}"
            assert time.monotonic() < deadline, f"no {text!r} after {timeout}s"
            time.sleep(0.02)
        return time.monotonic() - self.started

    def kill(self) -> float:
        """SIGKILL; returns the seconds since start."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        return time.monotonic() - self.started

    def finish(self, timeout: float = 900) -> int:
        return self.proc.wait(timeout=timeout)


def wait_until_gone(home: Path, timeout: float) -> float:
    started = time.monotonic()
    while processes_of(home):
        assert time.monotonic() - started < timeout, f"still running after {timeout}s: {processes_of(home)}"
        time.sleep(0.02)
    return time.monotonic() - started


def open_for_writing(warehouse: Path, timeout: float) -> float:
    started = time.monotonic()
    while True:
        try:
            duckdb.connect(str(warehouse)).close()
            return time.monotonic() - started
        except duckdb.IOException:
            assert time.monotonic() - started < timeout, f"{warehouse} still locked after {timeout}s"
            time.sleep(0.05)


@pytest.fixture
def reader(tmp_path: Path) -> Iterator:
    """Starts another process holding a read-only connection (an analyst's notebook); stops it at the end."""
    holders: list[subprocess.Popen] = []

    def hold(warehouse: Path, seconds: float = 300) -> subprocess.Popen:
        code = (
            "import duckdb, sys, time; con = duckdb.connect(sys.argv[1], read_only=True); "
            "print('holding', flush=True); time.sleep(float(sys.argv[2]))"
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("TFM_")}
        proc = subprocess.Popen(
            [sys.executable, "-c", code, str(warehouse), str(seconds)],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert proc.stdout.readline().strip() == "holding"
        holders.append(proc)
        return proc

    yield hold
    for proc in holders:
        proc.kill()
        proc.wait()


# --- the warehouse's state ------------------------------------------------------------------------------


def query(warehouse: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def raw_state(warehouse: Path) -> dict[tuple[str, str], tuple[int, object]]:
    """(table, period) -> (rows, sum of cost), and the ledger agreeing with the raw rows of every period."""
    state = {}
    for table, cost in RAW_COST.items():
        for period, rows, total in query(
            warehouse, f'SELECT _billing_period, count(*), sum("{cost}") FROM raw.{table} GROUP BY 1'
        ):
            state[(table, str(period))] = (rows, total)
    ledger = {
        (family, str(period)): rows
        for family, period, rows in query(
            warehouse,
            "SELECT source_family, billing_period, sum(row_count) FROM meta.file_ledger GROUP BY 1, 2",
        )
    }
    assert ledger == {key: rows for key, (rows, _) in state.items()}, "the ledger disagrees with the raw rows"
    return state


def mart_state(warehouse: Path) -> dict[str, tuple[int, object]]:
    """x_billing_period -> (rows, sum(BilledCost)) of the FOCUS mart."""
    return {
        str(period): (rows, total)
        for period, rows, total in query(
            warehouse,
            "SELECT x_billing_period, count(*), sum(BilledCost) FROM marts.fct_focus_charges GROUP BY 1",
        )
    }


def runs_in_progress(home: Path) -> list[dg.DagsterRun]:
    instance = dg.DagsterInstance.from_config(str(home / "dagster"))
    try:
        return [r.dagster_run for r in instance.get_run_records(filters=dg.RunsFilter(statuses=IN_PROGRESS))]
    finally:
        instance.dispose()


def source_tree() -> set[str]:
    return {str(p.relative_to(REPO_ROOT)) for p in DBT_PROJECT_DIR.rglob("*") if "__pycache__" not in p.parts}


# --- one home for the module: samples and a generated month, in two versions -----------------------------


@dataclass
class Home:
    path: Path
    versions: dict[str, dict[Path, Path]]  # version -> {landing file: its content}
    landing_version: str = "A"
    built_from: str = "A"  # the landing version the marts were last built from
    states: dict[str, dict] = field(default_factory=dict)  # version -> raw state once loaded completely

    @property
    def warehouse(self) -> Path:
        return self.path / "warehouse.duckdb"

    def use(self, version: str) -> None:
        """Replace the landing files by another version of them (a restatement)."""
        for target, content in self.versions[version].items():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(content, target)
        self.landing_version = version


def _versions(root: Path, landing: Path) -> dict[str, dict[Path, Path]]:
    """Version A: the real legacy CUR sample and a generated CUR 2.0 month; B restates both."""
    from orchestration.generator import GeneratorConfig, generate

    versions: dict[str, dict[Path, Path]] = {"A": {}, "B": {}}
    with LEGACY_CSV.open(newline="") as handle:
        rows = list(csv.reader(handle))
    restated = root / "legacy-B.csv"
    with restated.open("w", newline="") as handle:
        csv.writer(handle).writerows(rows[:-300])  # a restated month: 300 line items fewer
    versions["A"][landing / "legacy" / LEGACY_CSV.name] = LEGACY_CSV
    versions["B"][landing / "legacy" / LEGACY_CSV.name] = restated
    for version, seed, rows_per_month in (("A", 1, 2000), ("B", 2, 2400)):
        out = root / f"generated-{version}"
        generate(
            GeneratorConfig(out=out, fmt="cur2", months=1, rows=rows_per_month, seed=seed, start="2026-01")
        )
        for path in sorted((out / "cur2").rglob("*")):
            if path.is_file():
                versions[version][landing / "cur2" / path.relative_to(out / "cur2")] = path
    assert versions["A"].keys() == versions["B"].keys()
    return versions


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Home:
    """Ingested and built once, in full, from version A."""
    root = tmp_path_factory.mktemp("faults")
    path = root / "tfm"
    landing = path / "landing"
    built = Home(path=path, versions=_versions(root, landing))
    built.use("A")
    (landing / "focus").mkdir(parents=True)
    shutil.copy2(FOCUS_CSV, landing / "focus" / FOCUS_CSV.name)
    before = source_tree()
    ingest = tfm(path, "ingest")
    assert ingest.returncode == 0, ingest.stderr[-3000:]
    built.states["A"] = raw_state(built.warehouse)
    build = tfm(path, *FIRST_BUILD)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    # dbt's artifacts and logs went under TFM_HOME, not into the source tree.
    assert source_tree() == before
    assert (path / "dbt" / "target" / "manifest.json").exists()
    assert list((path / "dbt" / "target").glob("tfm_dbt_models-*/dbt.log"))
    return built


# --- the Dagster instance: settings and runs left behind --------------------------------------------------


def test_dagster_yaml_gets_tfm_settings_and_keeps_the_users(tmp_path):
    import yaml

    new = tmp_path / "new" / "dagster.yaml"
    new.parent.mkdir()
    assert merge_dagster_yaml(new)
    settings = yaml.safe_load(new.read_text())
    assert settings["run_queue"] == {"max_concurrent_runs": 1}
    assert settings["run_monitoring"]["enabled"] is True
    assert settings["run_monitoring"]["max_resume_run_attempts"] == 0
    assert not merge_dagster_yaml(new)  # nothing missing: not rewritten
    instance = dg.DagsterInstance.from_config(str(new.parent))
    assert instance.run_monitoring_enabled and instance.run_monitoring_start_timeout_seconds == 180
    instance.dispose()

    # A home written by an earlier tfm gets the run monitoring block; its text stays as it was.
    old = tmp_path / "old" / "dagster.yaml"
    old.parent.mkdir()
    old_text = "# mine\nrun_queue:\n  max_concurrent_runs: 1\ntelemetry:\n  enabled: false\n"
    old.write_text(old_text)
    assert merge_dagster_yaml(old)
    assert old.read_text().startswith(old_text)
    assert yaml.safe_load(old.read_text())["run_monitoring"]["enabled"] is True

    # The user's own keys and values win; missing keys inside a block are added, the original kept aside.
    mine = tmp_path / "mine" / "dagster.yaml"
    mine.parent.mkdir()
    mine_text = textwrap.dedent("""\
        run_queue:
          max_concurrent_runs: 3
        run_monitoring:
          enabled: false
        python_logs:
          python_log_level: DEBUG
        """)
    mine.write_text(mine_text)
    assert merge_dagster_yaml(mine)
    merged = yaml.safe_load(mine.read_text())
    assert merged["run_queue"] == {"max_concurrent_runs": 3}
    assert merged["run_monitoring"]["enabled"] is False
    assert merged["run_monitoring"]["start_timeout_seconds"] == 180
    assert merged["python_logs"] == {"python_log_level": "DEBUG"}
    assert merged["telemetry"] == {"enabled": False}
    assert (mine.parent / "dagster.yaml.bak").read_text() == mine_text
    dg.DagsterInstance.from_config(str(mine.parent)).dispose()

    broken = tmp_path / "broken" / "dagster.yaml"
    broken.parent.mkdir()
    broken.write_text("run_queue: [\n")
    from orchestration.settings import HomeError

    with pytest.raises(HomeError, match="is not valid YAML"):
        merge_dagster_yaml(broken)
    assert broken.read_text() == "run_queue: [\n"


def test_runs_whose_process_is_gone_are_marked_failed(tmp_path):
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    instance = dg.DagsterInstance.from_config(str(tmp_path))

    @dg.op
    def noop():
        return None

    @dg.job
    def job():
        noop()

    gone = subprocess.Popen(["sleep", "60"])
    gone_tags = process_tags(gone.pid)
    gone.kill()
    gone.wait()
    alive = process_tags()
    reused = {**alive, STARTED_TAG: "2001-01-01T00:00:00.000+00:00"}  # our pid, but another process's start
    elsewhere = {**gone_tags, HOST_TAG: "another-host"}

    def run(status: dg.DagsterRunStatus, tags: dict) -> str:
        return instance.create_run_for_job(job, status=status, tags=tags).run_id

    runs = {
        "gone": run(dg.DagsterRunStatus.STARTED, gone_tags),
        "gone starting": run(dg.DagsterRunStatus.STARTING, gone_tags),
        "gone canceling": run(dg.DagsterRunStatus.CANCELING, gone_tags),
        "pid reused": run(dg.DagsterRunStatus.STARTED, reused),
        "alive": run(dg.DagsterRunStatus.STARTED, alive),
        "elsewhere": run(dg.DagsterRunStatus.STARTED, elsewhere),
        "legacy cli": run(dg.DagsterRunStatus.STARTED, {"tfm/trigger": "cli"}),
        "untagged": run(dg.DagsterRunStatus.STARTED, {}),
        "finished": run(dg.DagsterRunStatus.SUCCESS, gone_tags),
    }
    lines: list[str] = []
    marked = fail_dead_runs(instance, log=lines.append)
    status = {name: instance.get_run_by_id(run_id).status for name, run_id in runs.items()}
    assert status == {
        "gone": dg.DagsterRunStatus.FAILURE,
        "gone starting": dg.DagsterRunStatus.FAILURE,
        "gone canceling": dg.DagsterRunStatus.CANCELED,
        "pid reused": dg.DagsterRunStatus.FAILURE,
        "alive": dg.DagsterRunStatus.STARTED,
        "elsewhere": dg.DagsterRunStatus.STARTED,
        "legacy cli": dg.DagsterRunStatus.FAILURE,  # no process tags and no event for an hour (none at all)
        "untagged": dg.DagsterRunStatus.STARTED,  # a run of Dagster's own launcher: run monitoring's job
        "finished": dg.DagsterRunStatus.SUCCESS,
    }
    assert len(marked) == len(lines) == 5
    assert any(f"by process {gone.pid}, which is gone: marked failed" in line for line in lines)
    assert all(len(line.splitlines()) == 1 for line in lines)
    assert fail_dead_runs(instance, log=lines.append) == []  # once only
    failure = instance.all_logs(runs["gone"], of_type=dg.DagsterEventType.RUN_FAILURE)[0]
    assert "is gone" in failure.message
    assert instance.get_run_by_id(runs["alive"]).tags[PID_TAG] == str(os.getpid())
    instance.dispose()


# --- the warehouse lock ---------------------------------------------------------------------------------


def test_commands_wait_for_a_reader_then_fail_in_one_line(home: Home, reader):
    holder = reader(home.warehouse)
    waiting = f"waiting for the warehouse: held by 'python -c' (PID {holder.pid})"
    runs_before = len(dg.DagsterInstance.from_config(str(home.path / "dagster")).get_run_records())
    for command in (["ingest"], BUILD):
        started = time.monotonic()
        result = tfm(home.path, *command, TFM_LOCK_TIMEOUT="2")
        output = result.stdout + result.stderr
        assert result.returncode == 1, output
        assert waiting in result.stderr
        errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert errors == [result.stderr.strip().splitlines()[-1]]
        assert errors[0].startswith(
            f"error: the warehouse {home.warehouse} is still locked by 'python -c' "
            f"(PID {holder.pid}) after 2s"
        )
        assert "TFM_LOCK_TIMEOUT" in errors[0] and "Traceback" not in output
        assert time.monotonic() - started >= 2
    # Neither started a run: the build waits before anything is written.
    assert len(dg.DagsterInstance.from_config(str(home.path / "dagster")).get_run_records()) == runs_before
    assert mart_state(home.warehouse)


def test_dbt_itself_waits_for_the_lock(home: Home, reader, tmp_path):
    """Between tfm's check and dbt's own connection another process may open the file: dbt waits too."""
    holder = reader(home.warehouse)
    env = {
        **tfm_env(home.path),
        "TFM_WAREHOUSE_PATH": str(home.warehouse),
        "DBT_PROFILES_DIR": str(REPO_ROOT),
        "DBT_PROJECT_DIR": str(DBT_PROJECT_DIR),
        "DBT_TARGET_PATH": str(tmp_path / "target"),
        "DBT_LOG_PATH": str(tmp_path / "logs"),
    }
    log = tmp_path / "debug.log"
    with log.open("w") as handle:
        dbt = subprocess.Popen([str(TFM_DBT), "debug"], env=env, stdout=handle, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300
    while "waiting for the warehouse" not in log.read_text():
        assert dbt.poll() is None, f"dbt did not wait for the lock:\n{log.read_text()}"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(1)
    assert dbt.poll() is None  # still waiting
    holder.kill()
    assert dbt.wait(timeout=120) == 0, log.read_text()
    output = log.read_text()
    assert f"waiting for the warehouse: held by 'python -c' (PID {holder.pid})" in output
    assert "OK connection ok" in output


# --- killed commands ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kill:
    """When to kill: ``delay`` seconds after the start, or after ``marker`` appears in the output."""

    delay: float
    marker: str | None = None

    def describe(self) -> str:
        return f"{self.delay:.2f}s after {self.marker!r}" if self.marker else f"at {self.delay:.2f}s"


def kill_plan(rng: random.Random, duration: float, marker: str, phase: float) -> list[Kill]:
    """Five seeded kills: three spread over the whole command (one in each third of ``duration``), one at a
    random moment of its writing phase (``phase`` seconds from ``marker``), one right as it starts writing."""
    spread = [Kill(duration * (i + rng.uniform(0.05, 0.95)) / 3) for i in range(3)]
    return [*spread, Kill(rng.uniform(0, phase), marker), Kill(rng.uniform(0, 0.2), marker)]


def kill(home: Home, args: list[str], when: Kill, log: Path) -> tuple[Running, float, bool]:
    """Start ``tfm args`` and SIGKILL it as planned; returns it, when it died, and whether dbt was running."""
    command = Running.start(home.path, *args, log=log)
    if when.marker:
        command.wait_for(when.marker)
    time.sleep(when.delay)
    dbt_was_running = bool(dbt_children(home.path))
    return command, command.kill(), dbt_was_running


def test_killed_ingest_leaves_each_period_complete_old_or_new(home: Home, tmp_path):
    rng = random.Random(SEED)
    reading = " - reading "  # a period's load has begun, in a Dagster run
    # The restatement, run to completion: its duration, when its loads begin, and the state it writes.
    home.use("B")
    command = Running.start(home.path, "ingest", log=tmp_path / "ingest.log")
    loads_from = command.wait_for(reading)
    assert command.finish() == 0, command.output()[-3000:]
    duration = time.monotonic() - command.started
    home.states["B"] = raw_state(home.warehouse)
    changed = sorted(key for key in home.states["A"] if home.states["A"][key] != home.states["B"].get(key))
    assert {("aws_cur_legacy", "2023-11-01"), ("aws_cur2", "2026-01-01")} <= set(changed)

    cleaned = 0
    for index, when in enumerate(kill_plan(rng, duration, reading, duration - loads_from)):
        before = raw_state(home.warehouse)
        # Restate: the landing folder gets the version the warehouse does not hold.
        version = (
            "A" if before == home.states["B"] else "B" if before == home.states["A"] else home.landing_version
        )
        home.use(version)
        command, at, _ = kill(home, ["ingest"], when, tmp_path / f"ingest-{index}.log")
        wait_until_gone(home.path, timeout=5)
        open_for_writing(home.warehouse, timeout=5)
        after, new = raw_state(home.warehouse), home.states[version]
        for key in before.keys() | after.keys() | new.keys():
            assert after.get(key) in (before.get(key), new.get(key)), (
                f"kill {index} at {at:.2f}s: {key} is {after.get(key)}, "
                f"neither {before.get(key)} nor {new.get(key)}"
            )
        output = command.output()
        print(
            f"ingest kill {index} ({when.describe()}, died at {at:.2f}s of {duration:.2f}s, "
            f"{'during the loads' if reading in output else 'before any load'}), restating to {version}: "
            + "; ".join(
                f"{table} {period[:7]} {'kept' if after[key] == before[key] else 'replaced'}"
                f" {after[key][0]} rows {after[key][1]:.2f}"
                for key in changed
                for table, period in [key]
            )
        )
        cleaned += output.count("which is gone: marked failed")
    # The next ingest fails the run the last kill left behind, and completes the restatement.
    result = tfm(home.path, "ingest", timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "which is gone: marked failed" in result.stderr  # the last kill was during a load
    cleaned += result.stderr.count("which is gone: marked failed")
    assert raw_state(home.warehouse) == home.states[home.landing_version]
    assert runs_in_progress(home.path) == []
    print(f"ingest after the kills: {cleaned} dead run(s) marked failed in all")


def test_killed_build_leaves_the_previous_mart_and_no_dbt_process(home: Home, tmp_path, reader):
    rng = random.Random(SEED + 1)
    previous, version = mart_state(home.warehouse), home.built_from
    other = "B" if version == "A" else "A"

    def ingest(landing_version: str) -> dict:
        if home.landing_version == landing_version and raw_state(home.warehouse) == home.states.get(
            landing_version
        ):
            return home.states[landing_version]  # loaded already
        home.use(landing_version)
        result = tfm(home.path, "ingest")
        assert result.returncode == 0, result.stderr[-3000:]
        home.states[landing_version] = raw_state(home.warehouse)
        return home.states[landing_version]

    # A complete build of the other version, started while an analyst holds the warehouse: it waits, then
    # builds. Its duration (the wait left out) is the span the kills are spread over.
    raw = ingest(other)
    holder = reader(home.warehouse)
    command = Running.start(home.path, *BUILD, log=tmp_path / "build-waiting.log")
    waiting = command.wait_for(f"waiting for the warehouse: held by 'python -c' (PID {holder.pid})")
    time.sleep(2)
    assert command.proc.poll() is None and "Running dbt command" not in command.output()
    holder.kill()
    released = time.monotonic() - command.started
    dbt_from = command.wait_for("Running dbt command")
    dbt_to = command.wait_for("Finished dbt command")
    assert command.finish() == 0, command.output()[-5000:]
    duration = time.monotonic() - command.started - (released - waiting)
    print(
        f"build waited {released - waiting:.1f}s for the reader, then built in {duration:.1f}s "
        f"(dbt {dbt_to - dbt_from:.1f}s of it)"
    )
    home.built_from = other
    rebuilt = mart_state(home.warehouse)
    assert rebuilt != previous
    # The mart carries the raw cost of every period, to the cent.
    families = dict(
        query(
            home.warehouse,
            "SELECT DISTINCT x_billing_period::VARCHAR, x_source_family FROM marts.fct_focus_charges",
        )
    )
    for period, (_rows, total) in rebuilt.items():
        assert round(total, 2) == round(raw[(families[period], period)][1], 2)

    # Back to the first version: each killed build was writing `previous` over `rebuilt`.
    ingest(version)
    plan = kill_plan(rng, duration, "Running dbt command", dbt_to - dbt_from)
    plan[-1] = Kill(plan[-1].delay, "START sql incremental model marts.fct_focus_charges")
    in_dbt = 0
    for index, when in enumerate(plan):
        command, at, dbt_was_running = kill(home, BUILD, when, tmp_path / f"build-{index}.log")
        in_dbt += dbt_was_running
        # dbt goes with tfm, at once, and leaves the warehouse free; Dagster's log tailers follow.
        started = time.monotonic()
        while dbt_children(home.path):
            assert time.monotonic() - started < 3, f"dbt outlived tfm: {dbt_children(home.path)}"
            time.sleep(0.01)
        dbt_gone = time.monotonic() - started
        writable = open_for_writing(home.warehouse, timeout=5)
        gone = wait_until_gone(home.path, timeout=5)
        state = mart_state(home.warehouse)
        assert state in (rebuilt, previous), f"kill {index} at {at:.2f}s left a partial mart: {state}"
        print(
            f"build kill {index} ({when.describe()}, died at {at:.2f}s of {duration:.2f}s, "
            f"{'dbt running' if dbt_was_running else 'dbt not running'}): dbt gone after {dbt_gone:.2f}s, "
            f"warehouse writable after {writable:.2f}s, "
            f"every process gone after {dbt_gone + writable + gone:.2f}s; "
            f"mart {'kept' if state == rebuilt else 'replaced'}: "
            + ", ".join(
                f"{period[:7]} {rows} rows {total:.2f}" for period, (rows, total) in sorted(state.items())
            )
        )
    assert in_dbt >= 2, "the kills missed the dbt process"

    # The next build fails the run the last kill left behind, and completes.
    started = time.monotonic()
    result = tfm(home.path, *BUILD)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "which is gone: marked failed" in result.stderr
    print(f"build after the kills: {time.monotonic() - started:.1f}s")
    home.built_from = version
    assert mart_state(home.warehouse) == previous
    assert runs_in_progress(home.path) == []
    # Only the last few builds keep their dbt folder.
    assert len(list((home.path / "dbt" / "target").glob("tfm_dbt_models-*"))) <= 3


# --- folders tfm cannot write ---------------------------------------------------------------------------


def _assert_one_line(result: subprocess.CompletedProcess, *expected: str) -> str:
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" not in output, output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and result.stderr.strip().splitlines()[-1] == errors[0], output
    for text in expected:
        assert text in errors[0], errors[0]
    return errors[0]


def _read_only(home: Path, *args: str) -> subprocess.CompletedProcess:
    """``tfm`` with ``home`` read-only: by permissions for a user, on a read-only bind mount for root."""
    if os.geteuid() != 0:
        for path in [home, *home.rglob("*")]:
            path.chmod(path.stat().st_mode & ~0o222)
        try:
            return tfm(home, *args)
        finally:
            for path in [home, *home.rglob("*")]:
                path.chmod(path.stat().st_mode | 0o200)
    script = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"'
    return subprocess.run(
        ["unshare", "--mount", "sh", "-c", script, "sh", str(home), str(TFM), *args],
        env=tfm_env(home),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_unwritable_homes_fail_in_one_line(tmp_path, home: Home):
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    under_a_file = a_file / "tfm"
    for command in (["ingest"], ["build"], ["ui"], ["demo"], ["sql", "SELECT 1"]):
        _assert_one_line(tfm(under_a_file, *command), str(under_a_file))
    for command in (["ingest"], ["build"]):
        _assert_one_line(
            tfm(tmp_path / "h1", *command, DAGSTER_HOME=str(a_file)), str(a_file), "DAGSTER_HOME"
        )

    # A warehouse that is not a database file, a Dagster instance that cannot be opened.
    (tmp_path / "h2" / "warehouse.duckdb").mkdir(parents=True)
    _assert_one_line(tfm(tmp_path / "h2", "ingest"), f"the warehouse {tmp_path / 'h2' / 'warehouse.duckdb'}")
    assert "Traceback" in (tmp_path / "h2" / "logs" / "tfm.log").read_text()  # the trace, for whoever digs
    (tmp_path / "h3" / "dagster" / "history" / "runs.db").mkdir(parents=True)
    _assert_one_line(tfm(tmp_path / "h3", "ingest"), f"the Dagster instance in {tmp_path / 'h3' / 'dagster'}")

    # A read-only home with a built warehouse in it.
    read_only = tmp_path / "read-only"
    shutil.copytree(home.path, read_only, ignore=shutil.ignore_patterns("dbt"))
    (read_only / "dbt" / "target").mkdir(parents=True)
    for command in (["ingest"], BUILD, ["ui"], ["demo"]):
        line = _read_only(read_only, *command)
        _assert_one_line(line, str(read_only))
