"""train.py and model_io.py: hyperparameters, channels, device, early stopping, logging,
reproducibility and the model artifact."""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

import model_io
import numpy as np
import pandas as pd
import pytest
import torch
from conftest import driver_arguments

from modelbuild import pipeline
from modelbuild.steps.training import train, training_io

EPOCH_LINE = re.compile(r"^\[(\d+)\]\ttrain-mse:([0-9.]+)\tvalidation-mse:([0-9.]+)$")
QUICK = ["--epochs", "12", "--early_stopping_patience", "0"]
# A learning rate this high makes validation noisy, so early stopping stops well before the end
# and the last epoch is not the best one.
EARLY_STOPPING = [
    *("--epochs", "400", "--early_stopping_patience", "5"),
    *("--learning_rate", "0.05", "--batch_size", "16"),
]


@pytest.fixture
def no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same answer on a GPU machine as on a laptop."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def read_summary(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "output" / "training-summary.json").read_text())


def channel(preprocessed_dir: Path, name: str) -> training_io.Dataset:
    values = pd.read_csv(preprocessed_dir / name / f"{name}.csv", header=None).to_numpy(float)
    return training_io.Dataset(features=values[:, 1:], labels=values[:, 0])


def saved_model_mse(model_dir: Path, data: training_io.Dataset) -> float:
    """What evaluation would measure for the saved model on ``data``."""
    predictions = model_io.predict(model_io.load_model(model_dir), data.features)
    return float(np.mean((predictions.astype(float) - data.labels) ** 2))


def weights(model_dir: Path) -> dict[str, torch.Tensor]:
    return torch.load(model_dir / "model.pt", map_location="cpu", weights_only=True)


def test_hyperparameters_json_is_the_single_source_of_defaults(flags: list[str]) -> None:
    defaults = json.loads(training_io.HYPERPARAMETERS_FILE.read_text())
    assert set(defaults) == {
        *("hidden_sizes", "epochs", "early_stopping_patience", "batch_size", "learning_rate"),
        *("weight_decay", "dropout", "seed", "device"),
    }
    assert defaults["device"] == "auto"
    assert all(isinstance(value, (int, float, str)) for value in defaults.values())
    _, parsed = train.parse_args(flags)
    assert parsed == defaults
    # The pipeline hands SageMaker the same file's values.
    assert pipeline.load_hyperparameters() == defaults


def test_writes_a_self_contained_model_artifact(model_dir: Path, preprocessed_dir: Path) -> None:
    assert model_io.MODEL_FILES == ("model-config.json", "model.pt")
    assert sorted(p.relative_to(model_dir).as_posix() for p in model_dir.rglob("*")) == [
        "code",
        "code/inference.py",
        "code/model_io.py",
        "model-config.json",
        "model.pt",
        "preprocessor.json",
    ]
    assert (model_dir / "preprocessor.json").read_bytes() == (
        preprocessed_dir / "preprocessor" / "preprocessor.json"
    ).read_bytes()
    for script in training_io.SERVING_SCRIPTS:
        assert (model_dir / "code" / script.name).read_bytes() == script.read_bytes()
    config = json.loads((model_dir / "model-config.json").read_text())
    spec = json.loads((model_dir / "preprocessor.json").read_text())
    assert config["input_size"] == len(spec["processed_feature_names"]) == 10
    # A plain state_dict of CPU tensors: what the serving image's older PyTorch loads safely.
    state = weights(model_dir)
    assert state and all(tensor.device.type == "cpu" for tensor in state.values())


def test_reads_locations_from_the_sagemaker_environment(
    preprocessed_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("train", "validation", "preprocessor"):
        monkeypatch.setenv(f"SM_CHANNEL_{name.upper()}", str(preprocessed_dir / name))
    monkeypatch.setenv("SM_MODEL_DIR", str(tmp_path / "model"))
    monkeypatch.setenv("SM_OUTPUT_DATA_DIR", str(tmp_path / "output"))
    assert train.main(QUICK) == 0
    for name in model_io.MODEL_FILES:
        assert (tmp_path / "model" / name).is_file()
    summary = read_summary(tmp_path)
    assert summary["epochs_run"] == summary["kept_epoch"] == 12


def test_driver_style_hyperparameters_reach_the_model(
    flags: list[str],
    tmp_path: Path,
    preprocessed_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    chosen = {
        "hidden_sizes": "16,8",
        "learning_rate": 0.05,
        "weight_decay": 0.001,
        "batch_size": 50,
        "dropout": 0.25,
        "epochs": 3,
        "early_stopping_patience": 0,
        "device": "cpu",
    }
    optimizers: list[torch.optim.Optimizer] = []
    real_adam = torch.optim.Adam

    def spy(*args, **kwargs) -> torch.optim.Optimizer:
        optimizers.append(real_adam(*args, **kwargs))
        return optimizers[-1]

    monkeypatch.setattr(torch.optim, "Adam", spy)
    assert train.main([*flags, *driver_arguments(chosen)]) == 0
    group = optimizers[0].param_groups[0]
    assert (group["lr"], group["weight_decay"]) == (0.05, 0.001)
    steps_per_epoch = math.ceil(len(channel(preprocessed_dir, "train").labels) / 50)
    step = next(iter(optimizers[0].state.values()))["step"]
    assert int(step) == 3 * steps_per_epoch
    config = json.loads((tmp_path / "model" / "model-config.json").read_text())
    assert (config["hidden_sizes"], config["dropout"]) == ([16, 8], 0.25)
    shapes = [tuple(t.shape) for name, t in weights(tmp_path / "model").items() if "weight" in name]
    assert shapes == [(16, 10), (8, 16), (1, 8)]
    model = model_io.load_model(tmp_path / "model")
    assert sum(isinstance(m, torch.nn.Dropout) and m.p == 0.25 for m in model.modules()) == 2
    assert read_summary(tmp_path)["device"] == "cpu"


@pytest.mark.parametrize("text", ["16,8", "16, 8", "[16, 8]", "16 8"])
def test_hidden_sizes_accept_the_usual_ways_of_writing_a_list(text: str) -> None:
    assert train.layer_sizes(text) == [16, 8]


def test_accepts_whole_numbers_written_as_floats(flags: list[str]) -> None:
    _, parsed = train.parse_args([*flags, "--epochs", "30.0", "--batch_size", "64.0"])
    assert (parsed["epochs"], parsed["batch_size"]) == (30, 64)
    assert isinstance(parsed["epochs"], int) and isinstance(parsed["batch_size"], int)


def test_early_stopping_keeps_the_best_validation_epoch(
    flags: list[str], tmp_path: Path, preprocessed_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert train.main([*flags, *EARLY_STOPPING]) == 0
    summary = read_summary(tmp_path)
    history = summary["validation_mse_per_epoch"]
    best = min(range(len(history)), key=history.__getitem__) + 1
    assert len(history) < 400
    assert summary["epochs_run"] == len(history) == best + 5
    assert summary["best_epoch"] == summary["kept_epoch"] == best
    assert summary["validation_mse_of_kept_model"] == history[best - 1]
    # The saved weights are the best epoch's, not the last one's.
    validation = channel(preprocessed_dir, "validation")
    assert saved_model_mse(tmp_path / "model", validation) == pytest.approx(history[best - 1])
    assert history[-1] != pytest.approx(history[best - 1])
    logged = [EPOCH_LINE.match(line) for line in capsys.readouterr().out.splitlines()]
    logged = [match for match in logged if match]
    assert [int(m.group(1)) for m in logged] == list(range(1, len(history) + 1))
    assert [float(m.group(3)) for m in logged] == pytest.approx(history, abs=1e-6)
    assert [float(m.group(2)) for m in logged] == pytest.approx(
        summary["train_mse_per_epoch"], abs=1e-6
    )


def test_without_early_stopping_runs_every_epoch_and_keeps_the_last(
    flags: list[str], tmp_path: Path, preprocessed_dir: Path
) -> None:
    argv = [*EARLY_STOPPING, "--epochs", "25", "--early_stopping_patience", "0"]
    assert train.main([*flags, *argv]) == 0
    summary = read_summary(tmp_path)
    history = summary["validation_mse_per_epoch"]
    assert summary["epochs_run"] == summary["kept_epoch"] == len(history) == 25
    validation = channel(preprocessed_dir, "validation")
    assert saved_model_mse(tmp_path / "model", validation) == pytest.approx(history[-1])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--colour", "blue"], "unknown hyperparameter(s) --colour; known: hidden_sizes"),
        (["--learning_rate", "2"], "learning_rate=2.0 must be in (0, 1]"),
        (
            ["--epochs", "0", "--dropout", "1"],
            "epochs=0 must be at least 1; dropout=1.0 must be in [0, 1)",
        ),
        (["--epochs", "3.5"], "argument --epochs: '3.5' is not a whole number"),
        (["--batch_size", "big"], "argument --batch_size: 'big' is not a whole number"),
        (["--hidden_sizes", "64,wide"], "hidden_sizes=64,wide must be one or more positive"),
        (["--hidden_sizes", "64,0"], "hidden_sizes=64,0 must be one or more positive"),
        (["--device", "gpu"], "device=gpu must be one of auto, cpu, cuda"),
        (["--early_stopping_patience", "-1"], "early_stopping_patience=-1 must be 0 (off)"),
    ],
)
def test_rejects_bad_hyperparameters(
    flags: list[str], argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        train.main([*flags, *argv])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_the_same_seed_gives_identical_weights(
    preprocessed_dir: Path, tmp_path: Path, flags: list[str]
) -> None:
    def trained(name: str, seed: str) -> dict[str, torch.Tensor]:
        argv = [*flags, *QUICK, "--seed", seed, "--model-dir", str(tmp_path / name)]
        assert train.main(argv) == 0
        return weights(tmp_path / name)

    first, again, other = trained("a", "7"), trained("b", "7"), trained("c", "8")
    assert first.keys() == again.keys() == other.keys()
    assert all(torch.equal(first[name], again[name]) for name in first)
    assert not all(torch.equal(first[name], other[name]) for name in first)


def test_auto_picks_cuda_when_available_and_the_cpu_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert train.choose_device("auto") == torch.device("cuda")
    assert train.choose_device("cuda") == torch.device("cuda")
    assert train.choose_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert train.choose_device("auto") == torch.device("cpu")


def test_auto_without_a_gpu_trains_on_the_cpu(
    no_gpu: None, flags: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert train.main([*flags, *QUICK, "--device", "auto"]) == 0
    assert read_summary(tmp_path)["device"] == "cpu"
    assert "train: device cpu" in capsys.readouterr().out


def test_cuda_without_a_gpu_is_a_clear_error(
    no_gpu: None, flags: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert train.main([*flags, *QUICK, "--device", "cuda"]) == 1
    assert "train: error: device=cuda, but PyTorch sees no CUDA GPU" in capsys.readouterr().err
    assert not (tmp_path / "model").exists()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_trains_on_cuda_and_saves_a_model_the_cpu_serves(
    flags: list[str], tmp_path: Path, preprocessed_dir: Path
) -> None:
    assert train.main([*flags, *QUICK, "--device", "cuda"]) == 0
    summary = read_summary(tmp_path)
    assert summary["device"] == "cuda"
    validation = channel(preprocessed_dir, "validation")
    mse = saved_model_mse(tmp_path / "model", validation)
    assert mse == pytest.approx(summary["validation_mse_of_kept_model"], rel=1e-4)


def test_runs_standalone_like_the_sagemaker_driver(
    run_script, flags: list[str], tmp_path: Path
) -> None:
    done = run_script("training/train.py", *flags, *QUICK, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    epochs = [line for line in done.stdout.splitlines() if EPOCH_LINE.match(line)]
    assert len(epochs) == 12
    assert (tmp_path / "model" / "code" / "inference.py").is_file()


@pytest.mark.parametrize("script", ["train.py", "training_io.py", "model_io.py"])
def test_imports_only_what_the_pytorch_container_has(third_party_imports, script: str) -> None:
    assert third_party_imports(f"training/{script}") <= {"numpy", "pandas", "torch"}


def test_model_io_round_trips_the_saved_model(model_dir: Path, tmp_path: Path) -> None:
    model = model_io.load_model(model_dir)
    assert model_io.feature_count(model) == 10
    model_io.save_model(model, tmp_path)
    assert (tmp_path / "model-config.json").read_bytes() == (
        model_dir / "model-config.json"
    ).read_bytes()
    features = np.random.default_rng(0).normal(size=(20, 10))
    predictions = model_io.predict(model_io.load_model(tmp_path), features)
    assert predictions.shape == (20,)
    np.testing.assert_array_equal(predictions, model_io.predict(model, features))


def test_inputs_beyond_the_training_range_answer_like_its_edge(model_dir: Path) -> None:
    model = model_io.load_model(model_dir)
    config = json.loads((model_dir / "model-config.json").read_text())
    rows = np.random.default_rng(1).normal(size=(5, 10))
    far, edge = rows.copy(), rows.copy()
    far[:, 2], edge[:, 2] = 1000.0, config["feature_max"][2]
    np.testing.assert_array_equal(model_io.predict(model, far), model_io.predict(model, edge))
    far[:, 2], edge[:, 2] = -1000.0, config["feature_min"][2]
    np.testing.assert_array_equal(model_io.predict(model, far), model_io.predict(model, edge))


def test_predictions_stay_within_the_trained_labels() -> None:
    config = model_io.ModelConfig(
        input_size=2,
        hidden_sizes=[3],
        dropout=0.0,
        label_mean=10.0,
        label_std=3.0,
        label_min=1.0,
        label_max=29.0,
        feature_min=[-1.0, -1.0],
        feature_max=[1.0, 1.0],
    )
    model = model_io.MLPRegressor(config)
    final = model.layers[-1]
    with torch.no_grad():
        final.bias.fill_(100.0)
        assert model_io.predict(model, np.zeros((1, 2)))[0] == 29.0
        final.bias.fill_(-100.0)
        assert model_io.predict(model, np.zeros((1, 2)))[0] == 1.0
        final.bias.fill_(1.0)
        final.weight.zero_()
        assert model_io.predict(model, np.zeros((1, 2)))[0] == 13.0


def test_a_rows_prediction_does_not_depend_on_the_rest_of_the_batch(model_dir: Path) -> None:
    model = model_io.load_model(model_dir)
    rows = np.random.default_rng(2).normal(size=(300, 10))
    together = model_io.predict(model, rows)
    alone = np.concatenate([model_io.predict(model, rows[i : i + 1]) for i in range(len(rows))])
    np.testing.assert_array_equal(together, alone)
    np.testing.assert_array_equal(model_io.predict(model, rows[::-1]), together[::-1])


def _corrupt(directory: Path, case: str) -> None:
    if case == "config not json":
        (directory / "model-config.json").write_text('{"truncated": ')
    elif case == "config incomplete":
        config = json.loads((directory / "model-config.json").read_text())
        del config["label_std"]
        (directory / "model-config.json").write_text(json.dumps({**config, "input_size": 0}))
    elif case == "weights not a state_dict":
        (directory / "model.pt").write_bytes(b"not a zip archive")
    elif case == "weights of another architecture":
        config = json.loads((directory / "model-config.json").read_text())
        config["hidden_sizes"] = [3]
        (directory / "model-config.json").write_text(json.dumps(config))


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("config not json", "model-config.json is not a valid model configuration"),
        ("config incomplete", "bad or missing input_size, label_std, feature_min, feature_max"),
        ("weights not a state_dict", "model.pt is not a valid PyTorch state_dict"),
        ("weights of another architecture", "does not fit the architecture in model-config"),
    ],
)
def test_model_io_names_the_broken_file(
    model_dir: Path, tmp_path: Path, case: str, message: str
) -> None:
    for name in model_io.MODEL_FILES:
        shutil.copyfile(model_dir / name, tmp_path / name)
    _corrupt(tmp_path, case)
    with pytest.raises(ValueError, match=re.escape(message)):
        model_io.load_model(tmp_path)
