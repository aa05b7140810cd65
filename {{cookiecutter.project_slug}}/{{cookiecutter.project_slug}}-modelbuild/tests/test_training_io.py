"""What every framework's train.py shares through training_io.py: the preprocessed channels are
checked against the preprocessor's schema before anything trains, and a bad channel ends the job
with a message naming it and no model written."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fast_training import FAST_TRAINING

from modelbuild.steps.training import train


def _break_channel(split: Path, case: str) -> None:
    if case == "no csv":
        (split / "validation" / "validation.csv").unlink()
    elif case == "empty csv":
        (split / "train" / "train.csv").write_text("")
    elif case == "wrong width":
        lines = (split / "train" / "train.csv").read_text().splitlines()
        (split / "train" / "train.csv").write_text("\n".join(line + ",1" for line in lines))
    elif case == "non-numeric":
        lines = (split / "validation" / "validation.csv").read_text().splitlines()
        lines[3] = "x" + lines[3][lines[3].index(",") :]
        (split / "validation" / "validation.csv").write_text("\n".join(lines))
    elif case == "no preprocessor":
        (split / "preprocessor" / "preprocessor.json").unlink()


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("no csv", "channel 'validation' has no .csv file"),
        ("empty csv", "channel 'train' has an empty .csv file"),
        ("wrong width", "channel 'train' has 12 columns; expected the label plus 10 features"),
        (
            "non-numeric",
            "channel 'validation' has empty or non-numeric values (first in data row 4)",
        ),
        ("no preprocessor", "channel 'preprocessor' has no preprocessor.json"),
    ],
)
def test_rejects_bad_channels_without_writing_a_model(
    case: str, message: str, preprocessed_dir: Path, tmp_path: Path, capsys
) -> None:
    split = tmp_path / "split"
    shutil.copytree(preprocessed_dir, split)
    _break_channel(split, case)
    argv = [
        *("--train-dir", str(split / "train"), "--validation-dir", str(split / "validation")),
        *("--preprocessor-dir", str(split / "preprocessor"), "--model-dir", str(tmp_path / "m")),
        *("--output-data-dir", str(tmp_path / "o"), *FAST_TRAINING),
    ]
    assert train.main(argv) == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "m").exists()
