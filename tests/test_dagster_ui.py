"""The Dagster UI as a person sees it: `tfm ui` on the demo's warehouse, opened in headless Chromium.

The webserver and the daemon run against a copy of the demo's TFM_HOME that reads the demo's landing folder in
place (the ledger's paths stay true; the daemon writes to the copy only). The test opens the asset graph, a raw
asset's partitions and the automation page, checks what they show, and keeps their screenshots and text under
test-artifacts/. It also checks what the daemon did meanwhile: the landing sensor looked at a landing folder
the command line already loaded, and launched nothing.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import pytest

from orchestration.ingest.warehouse import connect
from orchestration.quoting import q
from orchestration.settings import REPO_ROOT
from tests.browser import artifact, browser_page

STARTUP_SECONDS = 240  # the code location loads the dbt project: slow on a busy machine
PAGE_TIMEOUT_MS = 120_000
GROUPS = ("ingest", "staging", "intermediate", "marts", "models", "quality", "reference")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def tfm_ui(home: Path, landing: Path, log: Path) -> Iterator[str]:
    """``tfm ui`` (the Dagster webserver and daemon) on ``home``, stopped afterwards; yields its URL."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TFM_", "DAGSTER_", "DBT_"))}
    env.update(TFM_HOME=str(home), TFM_LANDING=str(landing), DAGSTER_HOME=str(home / "dagster"))
    with log.open("w") as output:
        # tfm ui, in a session of its own: the webserver, the daemon and the code server it starts stop with it.
        server = subprocess.Popen(
            [sys.executable, "-m", "orchestration.cli", "ui", "--port", str(port)], cwd=REPO_ROOT, env=env,
            stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + STARTUP_SECONDS
            while True:
                assert server.poll() is None, f"tfm ui exited ({server.returncode}); see {log}"
                try:
                    with urllib.request.urlopen(f"{url}/server_info", timeout=5) as response:
                        if response.status == 200:
                            break
                except OSError:
                    pass
                assert time.monotonic() < deadline, (
                    f"the Dagster UI did not start in {STARTUP_SECONDS}s; see {log}"
                )
                time.sleep(1)
            yield url
        finally:
            _stop(server)


def _stop(server: subprocess.Popen) -> None:
    """Stop tfm ui as Ctrl-C does (dagster dev stops the webserver, the daemon and the code server), then make
    sure nothing of its process group is left."""
    try:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(server.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    server.wait(timeout=30)


@pytest.fixture(scope="module")
def ui_home(demo_warehouse, tmp_path_factory) -> Path:
    """A copy of the demo's TFM_HOME without its landing folder (read in place) or published copy."""
    home = tmp_path_factory.mktemp("dagster-ui") / "tfm"
    shutil.copytree(
        demo_warehouse.home, home, ignore=shutil.ignore_patterns("landing", "published", "generated")
    )
    return home


def _loaded_months(home: Path) -> list[str]:
    con = connect(home / "warehouse.duckdb", read_only=True)
    try:
        rows = con.execute(
            "SELECT DISTINCT strftime(billing_period, '%Y-%m') FROM meta.file_ledger ORDER BY 1"
        ).fetchall()
    finally:
        con.close()
    return [period for (period,) in rows]


def _raw_rows(home: Path, family: str, period: str) -> int:
    con = connect(home / "warehouse.duckdb", read_only=True)
    try:
        return con.execute(
            f"SELECT count(*) FROM raw.{q(family)} WHERE _billing_period = CAST(? || '-01' AS DATE)", [period]
        ).fetchone()[0]
    finally:
        con.close()


def _sensor_states(instance: dg.DagsterInstance) -> dict:
    from dagster._core.scheduler.instigation import InstigatorType

    return {
        state.instigator_name: state
        for state in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)
    }


def _wait_for_sensor_ticks(dagster_home: Path, names: tuple[str, ...], timeout: float = 240) -> dict:
    """The first ticks of these sensors, once the daemon has evaluated each of them."""
    deadline = time.monotonic() + timeout
    while True:
        instance = dg.DagsterInstance.from_config(str(dagster_home))
        try:
            states = _sensor_states(instance)
            ticks = {}
            for name in names:
                state = states.get(name)
                if state is None:
                    break
                done = [
                    t for t in instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=5)
                    if t.status.value != "STARTED"
                ]  # fmt: skip
                if not done:
                    break
                ticks[name] = done
            else:
                return ticks
        finally:
            instance.dispose()
        assert time.monotonic() < deadline, f"the daemon did not evaluate {names} in {timeout:.0f}s"
        time.sleep(2)


def _close_community_popup(page) -> None:
    """Dagster shows a "Join the Dagster community" dialog on a first visit from localhost: skip it."""
    try:
        page.get_by_text("Join the Dagster community").wait_for(timeout=8_000)
    except Exception:  # noqa: BLE001 (playwright's TimeoutError: the dialog was already dismissed)
        return
    page.get_by_role("button", name="Skip").click()
    page.get_by_text("Join the Dagster community").wait_for(state="hidden", timeout=10_000)


def _keep(page, name: str) -> str:
    """Screenshot and text of the page, kept as test artifacts; returns the text."""
    page.screenshot(path=str(artifact(f"dagster-ui-{name}.png")), full_page=False)
    text = page.locator("body").inner_text()
    artifact(f"dagster-ui-{name}.txt").write_text(text, encoding="utf-8")
    return text


def test_the_dagster_ui_shows_the_pipeline_as_it_is(ui_home, demo_warehouse):
    landing = demo_warehouse.landing
    months = _loaded_months(ui_home)
    assert {"2026-01", "2026-02", "2026-03"} <= set(months)
    before = dg.DagsterInstance.from_config(str(ui_home / "dagster"))
    try:
        runs_before = {r.dagster_run.run_id for r in before.get_run_records()}
    finally:
        before.dispose()

    with tfm_ui(ui_home, landing, artifact("dagster-ui-server.log")) as url, browser_page() as page:
        page.set_default_timeout(PAGE_TIMEOUT_MS)

        # The asset graph: every group by the name of what it holds.
        page.goto(f"{url}/asset-groups")
        _close_community_popup(page)
        for group in GROUPS:
            page.get_by_text(group, exact=True).first.wait_for()
        text = _keep(page, "asset-graph")
        for group in GROUPS:
            assert group in text.split(), group

        # A raw asset's partitions: the billing periods that exist, keyed YYYY-MM.
        page.goto(f"{url}/assets/raw/aws_cur2?view=partitions")
        page.get_by_text("2026-03", exact=True).first.wait_for()
        text = _keep(page, "raw-aws_cur2-partitions")
        for month in ("2026-01", "2026-02", "2026-03"):
            assert month in text
        assert "2026-02-01" not in text and "2015-01" not in text
        assert f"{len(months)} Partitions Selected" in text, months
        # One partition's materialization: what the warehouse holds for the period, replaced by the load.
        page.get_by_text("2026-01", exact=True).first.click()
        page.get_by_text("billed_cost_exact", exact=True).wait_for()
        text = _keep(page, "raw-aws_cur2-2026-01")
        assert "replaced" in text and "USD" in text
        assert str(_raw_rows(ui_home, "aws_cur2", "2026-01")) in text.replace(",", "")

        # The conservation test is a check on the mart it proves, with its description.
        page.goto(
            f"{url}/assets/marts/fct_focus_charges?view=checks&checkDetail=assert_focus_charges_conserve_cost"
        )
        page.get_by_text("Per source file and billing period", exact=False).first.wait_for()
        text = _keep(page, "fct_focus_charges-checks")
        assert "blocking" in text and "Passed" in text and "gx_values" in text

        # What runs by itself: the sensors on, the daily schedule off.
        ticks = _wait_for_sensor_ticks(ui_home / "dagster", ("landing_sensor", "build_after_ingest"))
        page.goto(f"{url}/automation")
        # Each row's kind and toggle load after its name: three sensors and the schedule's cron line.
        page.get_by_text("Standard sensor", exact=True).nth(2).wait_for()
        page.get_by_text("Scheduled At", exact=False).first.wait_for()
        time.sleep(2)
        text = _keep(page, "automation")
        for name in ("landing_sensor", "build_after_ingest", "dead_runs_sensor", "daily_ingest_schedule"):
            assert name in text, name
        toggles = {}
        for name in ("landing_sensor", "build_after_ingest", "dead_runs_sensor", "daily_ingest_schedule"):
            row = page.locator("[data-index]", has=page.get_by_text(name, exact=True)).first
            toggles[name] = row.locator("input[type=checkbox]").last.is_checked()
        assert toggles == {
            "landing_sensor": True, "build_after_ingest": True, "dead_runs_sensor": True,
            "daily_ingest_schedule": False,
        }  # fmt: skip

    # Meanwhile the landing sensor found every file already loaded: it launched no run, recorded nothing.
    assert all(not tick.run_ids for tick in ticks["landing_sensor"]), ticks["landing_sensor"]
    assert "holds every landed file" in (ticks["landing_sensor"][-1].skip_reason or "")
    after = dg.DagsterInstance.from_config(str(ui_home / "dagster"))
    try:
        new_runs = [r.dagster_run for r in after.get_run_records() if r.dagster_run.run_id not in runs_before]
    finally:
        after.dispose()
    assert new_runs == []
