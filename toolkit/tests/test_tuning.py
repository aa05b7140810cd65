"""The runner runs a Tuning step: a seeded random search within the ranges, scored with the
definition's metric regex, jobs in parallel up to the cores, the best job's model downstream."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest
import tuning_pipeline
from conftest import s3_json

from mlops_toolkit.runner import cli
from mlops_toolkit.runner import tuning as tuning_runner

PIPELINE = "tuning_pipeline:build"


def local_run(account, run_dir: Path, *extra: str) -> tuple[int, dict]:
    code = cli.main(
        [
            *("--role-arn", account.role_arn, "--artifact-bucket", account.bucket),
            *("--run-dir", str(run_dir), "--pipeline", PIPELINE),
            *extra,
        ]
    )
    return code, json.loads((run_dir / "run-summary.json").read_text())


def step(summary: dict, name: str) -> dict:
    return next(record for record in summary["steps"] if record["name"] == name)


def models(summary: dict) -> list[dict]:
    """What each training job saved: its hyperparameters, loss and when it ran."""
    found = []
    for job in step(summary, "TuneFit")["details"]["training_jobs"]:
        workspace = Path(job["model"]["local_path"]).parents[1]
        found.append(json.loads((workspace / "opt/ml/model/model.json").read_text()))
    return found


def test_the_best_training_jobs_model_goes_downstream(stand_in, account, elsewhere, tmp_path):
    code, summary = local_run(account, tmp_path / "run")

    assert code == 0, summary
    jobs = step(summary, "TuneFit")["details"]["training_jobs"]
    assert len(jobs) == 6  # MaxNumberOfTrainingJobs
    saved = models(summary)
    for model, job in zip(saved, jobs, strict=True):
        # Each job got one value from every range, and the regex read its last "loss:" line.
        assert 0.01 <= model["x"] <= 1.0 and 1 <= model["k"] <= 6 and model["kind"] in "ab"
        assert job["value"] == pytest.approx(model["loss"], abs=1e-6)
    best = min(saved, key=lambda model: model["loss"])
    published = step(summary, "ReadBest")["outputs"]["chosen"]["s3_uri"] + "/model.json"
    assert s3_json(stand_in, published) == best
    assert [job["value"] for job in jobs] == sorted(job["value"] for job in jobs)


def test_the_search_is_seeded(stand_in, account, elsewhere, tmp_path):
    runs = [local_run(account, tmp_path / f"run-{n}")[1] for n in (1, 2)]
    # Same seed, same values drawn; each run's jobs get names of their own.
    tuned = [
        sorted(json.dumps(job["tuned"]) for job in step(s, "TuneFit")["details"]["training_jobs"])
        for s in runs
    ]
    assert tuned[0] == tuned[1]


def test_jobs_run_in_parallel_up_to_the_cores(stand_in, account, elsewhere, tmp_path, monkeypatch):
    monkeypatch.setattr(tuning_pipeline, "SECONDS", 1.0)
    monkeypatch.setattr(tuning_runner.os, "cpu_count", lambda: 2)

    code, summary = local_run(account, tmp_path / "run")

    assert code == 0, summary
    log = Path(step(summary, "TuneFit")["log"]).read_text()
    assert "6 training job(s), 2 at a time" in log  # MaxParallelTrainingJobs is 3
    # How many ran at once: at each start, the jobs running then (itself included).
    spans = sorted((model["started"], model["ended"]) for model in models(summary))
    running = [sum(1 for start, end in spans if start <= moment < end) for moment, _ in spans]
    assert max(running) == 2


def test_a_search_where_no_job_reports_the_metric_fails_the_step(
    stand_in, account, elsewhere, tmp_path, monkeypatch
):
    monkeypatch.setattr(tuning_pipeline, "OFFSET", -1.0)

    code, summary = local_run(account, tmp_path / "run")

    assert code == 1
    record = step(summary, "TuneFit")
    assert record["status"] == "Failed"
    assert "no training job reported loss" in record["message"]
    assert "never matched the objective's regex" in record["message"]
    assert step(summary, "ReadBest")["status"] == "NotStarted"


RANGES = {
    "ContinuousParameterRanges": [
        {"Name": "lr", "MinValue": "0.001", "MaxValue": "0.1", "ScalingType": "Logarithmic"},
        {
            "Name": "keep",
            "MinValue": "0.9",
            "MaxValue": "0.999",
            "ScalingType": "ReverseLogarithmic",
        },
        {"Name": "mix", "MinValue": "0", "MaxValue": "1", "ScalingType": "Linear"},
    ],
    "IntegerParameterRanges": [
        {"Name": "depth", "MinValue": "2", "MaxValue": "8", "ScalingType": "Auto"},
        {"Name": "leaves", "MinValue": "4", "MaxValue": "256", "ScalingType": "Logarithmic"},
    ],
    "CategoricalParameterRanges": [{"Name": "loss", "Values": ["squared", "poisson"]}],
}


def test_drawn_values_stay_in_their_ranges_and_follow_the_scaling():
    rng = random.Random(7)
    draws = [tuning_runner.draw(RANGES, rng) for _ in range(2000)]
    lr = [float(d["lr"]) for d in draws]
    assert min(lr) >= 0.001 and max(lr) <= 0.1
    # Logarithmic: as many draws below 0.01 (the geometric middle) as above it.
    assert 0.45 < sum(value < 0.01 for value in lr) / len(lr) < 0.55
    keep = [float(d["keep"]) for d in draws]
    assert min(keep) >= 0.9 and max(keep) <= 0.999
    assert sum(value > 0.99 for value in keep) / len(keep) > 0.4  # crowded near 1
    depths = {int(d["depth"]) for d in draws}
    assert depths == set(range(2, 9))
    assert all(4 <= int(d["leaves"]) <= 256 for d in draws)
    assert {d["loss"] for d in draws} == {"squared", "poisson"}
    assert all(re.fullmatch(r"-?\d+(\.\d+)?(e-?\d+)?", d["mix"]) for d in draws)


def test_a_tuning_job_without_the_objectives_regex_is_refused():
    config = {"HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "loss"}}
    definition = {"AlgorithmSpecification": {"MetricDefinitions": [{"Name": "acc", "Regex": "a"}]}}
    with pytest.raises(tuning_runner.UnsupportedStepError, match="no MetricDefinitions regex"):
        tuning_runner.objective_of(config, definition, "Tune")
