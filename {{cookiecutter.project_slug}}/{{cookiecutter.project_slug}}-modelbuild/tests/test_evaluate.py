"""evaluate.py: train → model.tar.gz → evaluation.json, and its failure modes."""

from __future__ import annotations

import json
import math
import shutil
import tarfile
from pathlib import Path

import model_io
import numpy as np
import pandas as pd
import pytest

from modelbuild.steps import evaluate


def package(model_dir: Path, archive: Path, arcname: str = ".") -> Path:
    """Pack a model directory the way SageMaker does at the end of a training job."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(model_dir, arcname=arcname)
    return archive


@pytest.fixture
def evaluation_dir(tmp_path: Path, model_dir: Path, preprocessed_dir: Path) -> Path:
    package(model_dir, tmp_path / "model" / "model.tar.gz")
    (tmp_path / "test").mkdir()
    (tmp_path / "test" / "test.csv").write_bytes(
        (preprocessed_dir / "test" / "test.csv").read_bytes()
    )
    return tmp_path


def test_round_trip_reports_the_metrics_of_the_trained_model(
    evaluation_dir: Path, model_dir: Path
) -> None:
    assert evaluate.main(["--base-dir", str(evaluation_dir)]) == 0
    report = json.loads((evaluation_dir / "evaluation" / "evaluation.json").read_text())
    metrics = report["regression_metrics"]
    assert set(metrics) == {"mse", "rmse", "mae", "r2"}
    assert set(metrics["mse"]) == {"value", "standard_deviation"}
    assert set(metrics["mae"]) == {"value", "standard_deviation"}
    test = pd.read_csv(evaluation_dir / "test" / "test.csv", header=None).to_numpy()
    predictions = model_io.predict(model_io.load_model(model_dir), test[:, 1:])
    errors = np.asarray(predictions, dtype=float) - test[:, 0]
    assert metrics["mse"]["value"] == pytest.approx(float(np.mean(errors**2)), rel=1e-9)
    assert metrics["rmse"]["value"] == pytest.approx(math.sqrt(metrics["mse"]["value"]))
    assert metrics["mae"]["value"] == pytest.approx(float(np.mean(np.abs(errors))), rel=1e-9)
    # The synthetic rings follow the measurements closely: a working model explains most of them.
    assert metrics["r2"]["value"] > 0.5


def test_finds_the_model_however_the_archive_names_it(
    evaluation_dir: Path, model_dir: Path
) -> None:
    package(model_dir, evaluation_dir / "model" / "model.tar.gz", arcname="")
    assert evaluate.main(["--base-dir", str(evaluation_dir)]) == 0


def test_regression_metrics_on_known_values() -> None:
    labels, predictions = np.array([1.0, 2.0, 3.0, 6.0]), np.array([1.0, 3.0, 1.0, 6.0])
    metrics = evaluate.regression_metrics(labels, predictions)["regression_metrics"]
    assert metrics["mse"]["value"] == pytest.approx(1.25)
    assert metrics["mse"]["standard_deviation"] == pytest.approx(np.std([0, 1, 4, 0]))
    assert metrics["rmse"]["value"] == pytest.approx(math.sqrt(1.25))
    assert metrics["mae"]["value"] == pytest.approx(0.75)
    assert metrics["mae"]["standard_deviation"] == pytest.approx(np.std([0, 1, 2, 0]))
    assert metrics["r2"]["value"] == pytest.approx(1 - 5.0 / 14.0)


def test_constant_labels_give_a_finite_r2() -> None:
    labels = np.array([4.0, 4.0])
    perfect = evaluate.regression_metrics(labels, labels)["regression_metrics"]["r2"]["value"]
    off = evaluate.regression_metrics(labels, labels + 1)["regression_metrics"]["r2"]["value"]
    assert (perfect, off) == (1.0, 0.0)


def _break(base: Path, model_dir: Path, case: str) -> None:
    archive = base / "model" / "model.tar.gz"
    if case == "no archive":
        archive.unlink()
    elif case == "no model in archive":
        code_only = base / "code-only"
        shutil.copytree(model_dir / "code", code_only / "code")
        package(code_only, archive)
    elif case == "no loader in archive":
        without_loader = base / "without-loader"
        shutil.copytree(model_dir, without_loader)
        (without_loader / "code" / "model_io.py").unlink()
        package(without_loader, archive)
    elif case == "not a tarball":
        archive.write_bytes(b"plain text")
    elif case == "corrupt model":
        broken = base / "broken"
        shutil.copytree(model_dir, broken)
        for name in model_io.MODEL_FILES:
            (broken / name).write_bytes(b'{"truncated": ')
        package(broken, archive)
    elif case == "no test data":
        (base / "test" / "test.csv").unlink()
    elif case == "wrong width":
        lines = (base / "test" / "test.csv").read_text().splitlines()
        (base / "test" / "test.csv").write_text("\n".join(line + ",0" for line in lines))
    elif case == "non-numeric":
        lines = (base / "test" / "test.csv").read_text().splitlines()
        lines[1] = lines[1].replace(",", ",x", 1)
        (base / "test" / "test.csv").write_text("\n".join(lines))


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("no archive", "model archive not found"),
        ("no model in archive", f"holds no {model_io.MODEL_FILES[0]}"),
        ("no loader in archive", "holds no code/model_io.py; was it made by train.py?"),
        ("not a tarball", "is not a readable .tar.gz"),
        ("corrupt model", f"model.tar.gz: {model_io.MODEL_FILES[0]} is not a valid"),
        ("no test data", "test data not found"),
        ("wrong width", "has 12 columns; the model expects the label plus 10 features"),
        ("non-numeric", "has an empty or non-numeric value in row 2"),
    ],
)
def test_fails_clearly_and_writes_no_report(
    case: str, message: str, evaluation_dir: Path, model_dir: Path, capsys
) -> None:
    _break(evaluation_dir, model_dir, case)
    assert evaluate.main(["--base-dir", str(evaluation_dir)]) == 1
    assert message in capsys.readouterr().err
    assert not (evaluation_dir / "evaluation").exists()


def test_runs_standalone(evaluation_dir: Path, run_script) -> None:
    done = run_script("evaluate.py", "--base-dir", str(evaluation_dir), cwd=evaluation_dir)
    assert done.returncode == 0, done.stderr
    report = json.loads((evaluation_dir / "evaluation" / "evaluation.json").read_text())
    assert report["regression_metrics"]["mse"]["value"] > 0


def test_imports_no_framework_only_what_every_training_container_has(third_party_imports) -> None:
    assert third_party_imports("evaluate.py") <= {"numpy", "pandas"}


def test_refuses_an_archive_member_that_leaves_the_folder(evaluation_dir: Path, capsys) -> None:
    archive = evaluation_dir / "model" / "model.tar.gz"
    outside = evaluation_dir / "outside.txt"
    outside.write_text("x")
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(outside, arcname="../escaped.txt")
    assert evaluate.main(["--base-dir", str(evaluation_dir)]) == 1
    assert "holds '../escaped.txt', which is not a plain file" in capsys.readouterr().err
    assert not (evaluation_dir.parent / "escaped.txt").exists()
