"""train.py: hyperparameters, channels, early stopping, logging and the model artifact."""

from __future__ import annotations

import json
import re
from pathlib import Path

import model_io
import numpy as np
import pytest
import xgboost as xgb
from conftest import driver_arguments

from modelbuild.steps.training import train, training_io

ROUND_LINE = re.compile(r"^\[(\d+)\]\ttrain-rmse:([0-9.]+)\tvalidation-rmse:([0-9.]+)$")
QUICK = ["--num_round", "12", "--early_stopping_rounds", "0"]


def deepest_leaf(booster: xgb.Booster) -> int:
    """Depth of the deepest leaf over all trees (the text dump indents one tab per level)."""
    return max(
        len(line) - len(line.lstrip("\t"))
        for tree in booster.get_dump()
        for line in tree.splitlines()
        if "leaf=" in line
    )


def test_hyperparameters_json_is_the_single_source_of_defaults(flags: list[str]) -> None:
    defaults = json.loads(training_io.HYPERPARAMETERS_FILE.read_text())
    assert defaults["objective"] == "reg:squarederror"
    for name in (
        "num_round",
        "max_depth",
        "eta",
        "gamma",
        "min_child_weight",
        "subsample",
        "colsample_bytree",
        "early_stopping_rounds",
        "seed",
    ):
        assert name in defaults
    _, parsed = train.parse_args(flags)
    assert parsed == defaults


def test_writes_a_self_contained_model_artifact(model_dir: Path, preprocessed_dir: Path) -> None:
    assert sorted(p.relative_to(model_dir).as_posix() for p in model_dir.rglob("*")) == [
        "code",
        "code/inference.py",
        "code/model_io.py",
        "preprocessor.json",
        "xgboost-model.json",
    ]
    assert json.loads((model_dir / "xgboost-model.json").read_text())["learner"]
    assert (model_dir / "preprocessor.json").read_bytes() == (
        preprocessed_dir / "preprocessor" / "preprocessor.json"
    ).read_bytes()
    for script in training_io.SERVING_SCRIPTS:
        assert (model_dir / "code" / script.name).read_bytes() == script.read_bytes()
    booster = xgb.Booster(model_file=str(model_dir / "xgboost-model.json"))
    spec = json.loads((model_dir / "preprocessor.json").read_text())
    assert booster.feature_names == spec["processed_feature_names"]


def test_reads_locations_from_the_sagemaker_environment(
    preprocessed_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for channel in ("train", "validation", "preprocessor"):
        monkeypatch.setenv(f"SM_CHANNEL_{channel.upper()}", str(preprocessed_dir / channel))
    monkeypatch.setenv("SM_MODEL_DIR", str(tmp_path / "model"))
    monkeypatch.setenv("SM_OUTPUT_DATA_DIR", str(tmp_path / "output"))
    assert train.main(QUICK) == 0
    assert (tmp_path / "model" / "xgboost-model.json").is_file()
    summary = json.loads((tmp_path / "output" / "training-summary.json").read_text())
    assert summary["rounds_run"] == summary["rounds_kept"] == 12


def test_driver_style_hyperparameters_reach_xgboost(
    flags: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chosen = {
        "max_depth": 2,
        "eta": 0.5,
        "min_child_weight": 3.5,
        "objective": "reg:absoluteerror",
        "num_round": 7,
        "early_stopping_rounds": 0,
    }
    seen: list[dict] = []
    real_train = xgb.train

    def spy(params: dict, *args, **kwargs) -> xgb.Booster:
        seen.append(dict(params))
        return real_train(params, *args, **kwargs)

    monkeypatch.setattr(train.xgb, "train", spy)
    assert train.main([*flags, *driver_arguments(chosen)]) == 0
    assert seen[0]["eta"] == 0.5 and seen[0]["min_child_weight"] == 3.5
    assert seen[0]["eval_metric"] == "rmse"
    booster = xgb.Booster(model_file=str(tmp_path / "model" / "xgboost-model.json"))
    assert booster.num_boosted_rounds() == 7
    assert deepest_leaf(booster) == 2
    model = json.loads((tmp_path / "model" / "xgboost-model.json").read_text())
    assert model["learner"]["objective"]["name"] == "reg:absoluteerror"


def test_monotone_constraints_reach_xgboost_and_hold(flags: list[str], tmp_path: Path) -> None:
    # XGBoost's tuple names the leading features (the numeric ones come first); the one-hot
    # columns after them stay free. Without the constraint the second feature raises predictions
    # somewhere: the constraint, not the data, makes them fall.
    def profile(argv: list[str], feature: int) -> np.ndarray:
        assert train.main([*flags, *QUICK, *argv]) == 0
        booster = xgb.Booster(model_file=str(tmp_path / "model" / "xgboost-model.json"))
        rows = np.repeat(np.random.default_rng(1).normal(size=(1, booster.num_features())), 41, 0)
        rows[:, feature] = np.linspace(-3, 3, 41)
        return np.diff(booster.predict(xgb.DMatrix(rows, feature_names=booster.feature_names)))

    assert np.any(profile(["--monotone_constraints", "()"], 1) > 0)
    assert np.all(profile(["--monotone_constraints", "(1,-1)"], 1) <= 0)
    assert np.all(profile(["--monotone_constraints", "(1,-1)"], 0) >= 0)


def test_accepts_whole_numbers_written_as_floats(flags: list[str]) -> None:
    _, parsed = train.parse_args([*flags, "--num_round", "30.0"])
    assert parsed["num_round"] == 30


def test_early_stopping_keeps_the_best_validation_round(
    flags: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--num_round", "400", "--eta", "0.6", "--early_stopping_rounds", "5"]
    assert train.main([*flags, *argv]) == 0
    summary = json.loads((tmp_path / "output" / "training-summary.json").read_text())
    history = summary["validation_rmse_per_round"]
    best = min(range(len(history)), key=history.__getitem__)
    assert len(history) < 400
    assert len(history) == best + 1 + 5
    assert summary["rounds_kept"] == best + 1
    booster = xgb.Booster(model_file=str(tmp_path / "model" / "xgboost-model.json"))
    assert booster.num_boosted_rounds() == best + 1
    logged = [ROUND_LINE.match(line) for line in capsys.readouterr().out.splitlines()]
    validation = [float(m.group(3)) for m in logged if m]
    assert validation == pytest.approx(history, abs=1e-6)


def test_without_early_stopping_runs_every_round(flags: list[str], tmp_path: Path) -> None:
    assert train.main([*flags, "--num_round", "25", "--early_stopping_rounds", "0"]) == 0
    booster = xgb.Booster(model_file=str(tmp_path / "model" / "xgboost-model.json"))
    assert booster.num_boosted_rounds() == 25


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--colour", "blue"], "unknown hyperparameter(s) --colour; known: objective"),
        (["--eta", "2"], "eta=2.0 must be in (0, 1]"),
        (["--num_round", "0", "--subsample", "0"], "num_round=0 must be at least 1; subsample=0.0"),
        (["--num_round", "3.5"], "argument --num_round: '3.5' is not a whole number"),
        (["--max_depth", "deep"], "argument --max_depth: 'deep' is not a whole number"),
    ],
)
def test_rejects_bad_hyperparameters(
    flags: list[str], argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        train.main([*flags, *argv])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_runs_standalone_like_the_sagemaker_driver(
    run_script, flags: list[str], tmp_path: Path
) -> None:
    done = run_script("training/train.py", *flags, *QUICK, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rounds = [line for line in done.stdout.splitlines() if ROUND_LINE.match(line)]
    assert len(rounds) == 12
    assert (tmp_path / "model" / "code" / "inference.py").is_file()


@pytest.mark.parametrize("script", ["train.py", "training_io.py", "model_io.py"])
def test_imports_only_what_the_xgboost_container_has(third_party_imports, script: str) -> None:
    assert third_party_imports(f"training/{script}") <= {"numpy", "pandas", "xgboost"}


def test_model_io_round_trips_the_saved_booster(model_dir: Path, tmp_path: Path) -> None:
    booster = model_io.load_model(model_dir)
    assert model_io.feature_count(booster) == 10
    model_io.save_model(booster, tmp_path)
    features = np.random.default_rng(0).normal(size=(20, 10))
    np.testing.assert_array_equal(
        model_io.predict(model_io.load_model(tmp_path), features),
        model_io.predict(booster, features),
    )
