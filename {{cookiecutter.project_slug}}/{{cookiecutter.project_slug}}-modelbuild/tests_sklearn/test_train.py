"""train.py: hyperparameters, channels, early stopping, logging and the model artifact."""

from __future__ import annotations

import json
import re
from pathlib import Path

import joblib
import model_io
import numpy as np
import pandas as pd
import pytest
from conftest import driver_arguments
from sklearn.ensemble import HistGradientBoostingRegressor

from modelbuild.steps.training import train, training_io

ITERATION_LINE = re.compile(r"^\[(\d+)\]\ttrain-mse:([0-9.]+)\tvalidation-mse:([0-9.]+)$")
QUICK = ["--max_iter", "12", "--n_iter_no_change", "0"]


def saved_model(tmp_path: Path) -> HistGradientBoostingRegressor:
    return joblib.load(tmp_path / "model" / "model.joblib")


def summary_of(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "output" / "training-summary.json").read_text())


def channel(preprocessed_dir: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    values = pd.read_csv(preprocessed_dir / name / f"{name}.csv", header=None).to_numpy()
    return values[:, 1:], values[:, 0]


def test_hyperparameters_json_is_the_single_source_of_defaults(flags: list[str]) -> None:
    defaults = json.loads(training_io.HYPERPARAMETERS_FILE.read_text())
    assert defaults["loss"] in train.LOSSES
    assert set(defaults) == set(train.RULES), "every hyperparameter needs a rule, and vice versa"
    assert all(type(value) in (int, float, str) for value in defaults.values())
    _, parsed = train.parse_args(flags)
    assert parsed == defaults
    params = train.make_estimator(parsed, parsed["max_iter"]).get_params()
    for name in train.ESTIMATOR_PARAMETERS:
        assert params[name] == defaults[name], name
    assert params["max_leaf_nodes"] == (defaults["max_leaf_nodes"] or None)
    assert params["max_depth"] == (defaults["max_depth"] or None)
    assert params["early_stopping"] is (defaults["n_iter_no_change"] > 0)
    interactions = defaults["interaction_cst"]
    assert params["interaction_cst"] == (None if interactions == "none" else interactions)
    assert (params["monotonic_cst"] or []) == train.monotonic_constraints(
        defaults["monotonic_cst"], 0
    )


def test_zero_means_no_limit_and_no_early_stopping() -> None:
    defaults = training_io.load_default_hyperparameters()
    chosen = {**defaults, "max_leaf_nodes": 0, "max_depth": 0, "n_iter_no_change": 0}
    params = train.make_estimator(chosen, 5).get_params()
    assert (params["max_leaf_nodes"], params["max_depth"]) == (None, None)
    assert params["early_stopping"] is False
    assert params["max_iter"] == 5


def test_writes_a_self_contained_model_artifact(model_dir: Path, preprocessed_dir: Path) -> None:
    assert sorted(p.relative_to(model_dir).as_posix() for p in model_dir.rglob("*")) == [
        "code",
        "code/inference.py",
        "code/model_io.py",
        "model.joblib",
        "preprocessor.json",
    ]
    assert model_io.MODEL_FILES == ("model.joblib",)
    assert (model_dir / "preprocessor.json").read_bytes() == (
        preprocessed_dir / "preprocessor" / "preprocessor.json"
    ).read_bytes()
    for script in training_io.SERVING_SCRIPTS:
        assert (model_dir / "code" / script.name).read_bytes() == script.read_bytes()
    model = joblib.load(model_dir / "model.joblib")
    spec = json.loads((model_dir / "preprocessor.json").read_text())
    assert isinstance(model, HistGradientBoostingRegressor)
    assert model.n_features_in_ == len(spec["processed_feature_names"])


def test_reads_locations_from_the_sagemaker_environment(
    preprocessed_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("train", "validation", "preprocessor"):
        monkeypatch.setenv(f"SM_CHANNEL_{name.upper()}", str(preprocessed_dir / name))
    monkeypatch.setenv("SM_MODEL_DIR", str(tmp_path / "model"))
    monkeypatch.setenv("SM_OUTPUT_DATA_DIR", str(tmp_path / "output"))
    assert train.main(QUICK) == 0
    assert saved_model(tmp_path).n_iter_ == 12
    summary = summary_of(tmp_path)
    assert summary["iterations_run"] == summary["iterations_kept"] == 12


def test_driver_style_hyperparameters_reach_the_estimator(flags: list[str], tmp_path: Path) -> None:
    chosen = {
        "loss": "absolute_error",
        "max_iter": 7,
        "n_iter_no_change": 0,
        "learning_rate": 0.5,
        "max_leaf_nodes": 4,
        "max_depth": 2,
        "min_samples_leaf": 7,
        "l2_regularization": 2.5,
        "max_features": 0.5,
        "max_bins": 63,
        "random_state": 7,
        "interaction_cst": "pairwise",
        "monotonic_cst": "(1, 0,-1)",
    }
    assert train.main([*flags, *driver_arguments(chosen)]) == 0
    model = saved_model(tmp_path)
    params = model.get_params()
    translated = ("n_iter_no_change", "monotonic_cst")
    assert {name: params[name] for name in chosen if name not in translated} == {
        name: value for name, value in chosen.items() if name not in translated
    }
    # The constraints name the leading features; the columns after them are left free.
    assert params["monotonic_cst"] == [1, 0, -1] + [0] * (model.n_features_in_ - 3)
    assert params["early_stopping"] is False
    assert model.n_iter_ == 7
    assert summary_of(tmp_path)["hyperparameters"] == {
        **training_io.load_default_hyperparameters(),
        **chosen,
    }


def test_accepts_whole_numbers_written_as_floats(flags: list[str]) -> None:
    _, parsed = train.parse_args([*flags, "--max_iter", "30.0", "--random_state", "7.0"])
    assert (parsed["max_iter"], parsed["random_state"]) == (30, 7)
    assert isinstance(parsed["max_iter"], int) and isinstance(parsed["random_state"], int)


def test_early_stopping_keeps_the_best_validation_iteration(
    flags: list[str], preprocessed_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Squared error, whatever the default loss: its scores are half MSEs (checked below).
    argv = ["--max_iter", "400", "--learning_rate", "0.6", "--n_iter_no_change", "5"]
    assert train.main([*flags, *argv, "--loss", "squared_error"]) == 0
    summary = summary_of(tmp_path)
    history = summary["validation_mse_per_iteration"]
    best = min(range(len(history)), key=history.__getitem__)
    # It stopped on its own, at least the patience after the best iteration, and kept the best.
    assert len(history) == summary["iterations_run"] < 400
    assert len(history) >= best + 1 + 5
    assert summary["iterations_kept"] == best + 1
    assert summary["validation_mse_of_kept_model"] == history[best]
    model = saved_model(tmp_path)
    assert model.n_iter_ == best + 1
    features, labels = channel(preprocessed_dir, "validation")
    served = np.mean((model_io.predict(model, features) - labels) ** 2)
    assert served == pytest.approx(history[best], rel=1e-12)
    # scikit-learn scored the validation channel itself (not a split of train): its scores are
    # the negated half MSE of exactly these rows.
    assert -2 * np.asarray(model.validation_score_[1:]) == pytest.approx(history[: best + 1])
    logged = [ITERATION_LINE.match(line) for line in capsys.readouterr().out.splitlines()]
    logged = [m for m in logged if m]
    assert [int(m.group(1)) for m in logged] == list(range(len(history)))
    assert [float(m.group(3)) for m in logged] == pytest.approx(history, abs=1e-6)


def test_logged_train_mse_is_the_true_mean_squared_error(
    flags: list[str], preprocessed_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert train.main([*flags, *QUICK]) == 0
    features, labels = channel(preprocessed_dir, "train")
    staged = saved_model(tmp_path).staged_predict(features)
    expected = [float(np.mean((p - labels) ** 2)) for p in staged]
    logged = [ITERATION_LINE.match(line) for line in capsys.readouterr().out.splitlines()]
    assert [float(m.group(2)) for m in logged if m] == pytest.approx(expected, abs=1e-6)


def test_without_early_stopping_runs_every_iteration(flags: list[str], tmp_path: Path) -> None:
    argv = ["--max_iter", "25", "--learning_rate", "0.9", "--n_iter_no_change", "0"]
    assert train.main([*flags, *argv]) == 0
    model = saved_model(tmp_path)
    assert model.n_iter_ == 25
    assert model.get_params()["early_stopping"] is False
    summary = summary_of(tmp_path)
    assert summary["iterations_run"] == summary["iterations_kept"] == 25


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--colour", "blue"], "unknown hyperparameter(s) --colour; known: loss"),
        (["--learning_rate", "2"], "learning_rate=2.0 must be in (0, 1]"),
        (
            ["--max_iter", "0", "--max_features", "0"],
            "max_iter=0 must be at least 1; max_features=0.0 must be in (0, 1]",
        ),
        (["--loss", "huber"], "loss=huber must be one of squared_error, absolute_error"),
        (["--max_leaf_nodes", "1"], "max_leaf_nodes=1 must be 0 (no limit) or at least 2"),
        (["--n_iter_no_change", "-1"], "n_iter_no_change=-1 must be 0 (off) or more"),
        (["--max_bins", "256"], "max_bins=256 must be in [2, 255]"),
        (["--monotonic_cst", "(2,0)"], "monotonic_cst=(2,0) must be a tuple of -1, 0 and 1"),
        (["--monotonic_cst", "1,0"], "monotonic_cst=1,0 must be a tuple of -1, 0 and 1"),
        (["--interaction_cst", "all"], "interaction_cst=all must be one of none, pairwise"),
        (["--max_iter", "3.5"], "argument --max_iter: '3.5' is not a whole number"),
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


def test_monotonic_constraints_hold_in_the_saved_model(flags: list[str], tmp_path: Path) -> None:
    # Without the constraint the second feature raises predictions somewhere: the constraint,
    # not the data, makes them fall.
    def profile(argv: list[str], feature: int) -> np.ndarray:
        assert train.main([*flags, *QUICK, *argv]) == 0
        model = saved_model(tmp_path)
        rows = np.repeat(np.random.default_rng(1).normal(size=(1, model.n_features_in_)), 41, 0)
        rows[:, feature] = np.linspace(-3, 3, 41)
        return np.diff(model_io.predict(model, rows))

    assert np.any(profile(["--monotonic_cst", "()"], 1) > 0)
    assert np.all(profile(["--monotonic_cst", "(1,-1)"], 1) <= 0)
    assert np.all(profile(["--monotonic_cst", "(1,-1)"], 0) >= 0)


def test_the_same_seed_gives_identical_predictions(flags: list[str], tmp_path: Path) -> None:
    # Feature subsampling makes the seed matter: a different seed must give another model.
    features = np.random.default_rng(0).normal(size=(50, 10))
    predictions = []
    for seed in ("3", "3", "4"):
        argv = [*QUICK, "--max_features", "0.5", "--random_state", seed]
        assert train.main([*flags, *argv]) == 0
        predictions.append(model_io.predict(saved_model(tmp_path), features))
    np.testing.assert_array_equal(predictions[0], predictions[1])
    assert not np.array_equal(predictions[0], predictions[2])


def test_runs_standalone_like_the_sagemaker_driver(
    run_script, flags: list[str], tmp_path: Path
) -> None:
    done = run_script("training/train.py", *flags, *QUICK, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    iterations = [line for line in done.stdout.splitlines() if ITERATION_LINE.match(line)]
    assert len(iterations) == 12
    assert (tmp_path / "model" / "code" / "inference.py").is_file()
    assert (tmp_path / "model" / "model.joblib").is_file()


@pytest.mark.parametrize("script", ["train.py", "training_io.py", "model_io.py"])
def test_imports_only_what_the_sklearn_container_has(third_party_imports, script: str) -> None:
    assert third_party_imports(f"training/{script}") <= {"numpy", "pandas", "sklearn", "joblib"}


def test_model_io_round_trips_the_saved_model(model_dir: Path, tmp_path: Path) -> None:
    model = model_io.load_model(model_dir)
    assert model_io.feature_count(model) == 10
    model_io.save_model(model, tmp_path)
    features = np.random.default_rng(0).normal(size=(20, 10))
    reloaded = model_io.predict(model_io.load_model(tmp_path), features)
    assert reloaded.shape == (20,)
    np.testing.assert_array_equal(reloaded, model_io.predict(model, features))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"truncated": ', r"^model\.joblib is not a valid scikit-learn model"),
        (b"", r"^model\.joblib is not a valid scikit-learn model"),
        ({"not": "a model"}, r"^model\.joblib is not a valid model: it holds a dict, not a"),
        (HistGradientBoostingRegressor(), r"^model\.joblib is not a valid model: .* never fitted"),
    ],
)
def test_model_io_names_an_unreadable_model_file(
    tmp_path: Path, content: object, message: str
) -> None:
    if isinstance(content, bytes):
        (tmp_path / "model.joblib").write_bytes(content)
    else:
        joblib.dump(content, tmp_path / "model.joblib")
    with pytest.raises(ValueError, match=message):
        model_io.load_model(tmp_path)
