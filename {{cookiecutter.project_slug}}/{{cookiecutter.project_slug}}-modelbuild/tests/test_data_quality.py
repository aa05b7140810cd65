"""The data-quality baseline the preprocess step writes: what the pipeline's check step reads.

The statistics, constraints and drift checks themselves are mlops-template-toolkit's (its own
suite tests them); this checks the project's side of that contract.
"""

from __future__ import annotations

from modelbuild.steps.preprocess import RAW_FEATURES

FEATURES = list(RAW_FEATURES)


def test_preprocess_writes_the_raw_training_features_with_a_header(preprocessed_dir):
    lines = (preprocessed_dir / "baseline" / "baseline.csv").read_text().splitlines()
    assert lines[0].split(",") == FEATURES
    train_rows = (preprocessed_dir / "train" / "train.csv").read_text().splitlines()
    assert len(lines) - 1 == len(train_rows)
    assert all(len(line.split(",")) == len(FEATURES) for line in lines[1:])
    assert {line.split(",")[0] for line in lines[1:]} <= {"F", "I", "M"}
