"""The Spark build's one retry of Spark 4's task deserialization bug, and of nothing else.

The bug cannot be caused on purpose (it comes and goes with the plan adaptive execution picks), so dbt is replaced
here by a function that writes the run results a retry would: what is tested is which nodes are built again and
how their results replace the first attempt's.
"""

from __future__ import annotations

import json

from orchestration import spark
from orchestration.spark import SPARK_DESERIALIZATION_BUG, SparkFolders, _retry_deserialization_failures

BUG = (
    "Job aborted due to stage failure: java.lang.ClassCastException: cannot assign instance of "
    f"scala.collection.generic.{SPARK_DESERIALIZATION_BUG} to field org.apache.spark.sql.execution.UnionExec.children"
)


def result(unique_id: str, status: str, message: str = "") -> dict:
    return {"unique_id": unique_id, "status": status, "message": message}


def write_results(folder, results: list[dict]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "run_results.json").write_text(json.dumps({"results": results}))


def test_a_node_failed_by_the_bug_is_built_again_with_what_follows_it(tmp_path, monkeypatch):
    target = tmp_path / "dbt-target" / "2-after-models"
    write_results(
        target,
        [
            result("model.tfm.fct_budget_burn", "success"),
            result("unit_test.tfm.fct_incident_costs.same_weekday_baseline", "error", BUG),
            result("model.tfm.fct_incident_costs", "skipped"),
            result("model.tfm.fct_finops_kpis", "skipped"),
            result("model.tfm.fct_unit_economics", "error", "AnalysisException: column x not found"),
        ],
    )
    calls = []

    def fake_dbt(folders, *args, target=None):
        calls.append(args)
        write_results(
            target,
            [
                result("unit_test.tfm.fct_incident_costs.same_weekday_baseline", "pass"),
                result("model.tfm.fct_incident_costs", "success"),
                result("model.tfm.fct_finops_kpis", "success"),
            ],
        )

    monkeypatch.setattr(spark, "run_dbt", fake_dbt)
    said = []
    args = ("build", "--select", "source:ml+", "--exclude", "tag:slow")
    _retry_deserialization_failures(SparkFolders(tmp_path), target, args, said.append)

    # Only the bug's model, within the step's own selection and exclusions.
    assert calls == [("build", "--select", "source:ml+,fct_incident_costs+", "--exclude", "tag:slow")]
    merged = {
        r["unique_id"]: r["status"] for r in json.loads((target / "run_results.json").read_text())["results"]
    }
    assert merged == {
        "model.tfm.fct_budget_burn": "success",
        "unit_test.tfm.fct_incident_costs.same_weekday_baseline": "pass",
        "model.tfm.fct_incident_costs": "success",
        "model.tfm.fct_finops_kpis": "success",
        "model.tfm.fct_unit_economics": "error",  # a real error is not retried
    }
    first = json.loads((target / "run_results.first-attempt.json").read_text())["results"]
    assert [r["status"] for r in first] == ["success", "error", "skipped", "skipped", "error"]
    assert (
        any("fct_incident_costs" in line for line in said)
        and said[-1] == "retry: 3 nodes built again, 0 failed"
    )


def test_other_failures_are_not_retried(tmp_path, monkeypatch):
    target = tmp_path / "dbt-target" / "1-before-models"
    write_results(
        target, [result("model.tfm.fct_cost_allocation", "error", "SparkArithmeticException: overflow")]
    )
    monkeypatch.setattr(
        spark, "run_dbt", lambda *a, **k: (_ for _ in ()).throw(AssertionError("dbt ran again"))
    )
    _retry_deserialization_failures(SparkFolders(tmp_path), target, ("build",), print)
    assert not (target / "run_results.first-attempt.json").exists()
