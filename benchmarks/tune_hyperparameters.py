"""Choose training defaults by VALIDATION error only; the test split is never read.

Random search over XGBoost settings with early stopping on the validation split. Each candidate is
scored by its mean validation MSE over several preprocess seeds, disjoint from the seeds that
model_quality.py reports on. Copy the winner into hyperparameters.json by hand.

Each fit uses one thread and candidates run in parallel processes: on data this small, XGBoost's
own threading costs more than it saves.

    python benchmarks/tune_hyperparameters.py [--data PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from types import ModuleType

from model_quality import DEFAULT_DATA, Timings, load_step, preprocess_split, quiet

TUNING_SEEDS = (101, 102, 103, 104, 105)
SEARCH_SPACE = {
    "max_depth": [2, 3, 4, 5, 6],
    "eta": [0.02, 0.05],
    "min_child_weight": [1.0, 3.0, 6.0, 10.0, 20.0, 40.0],
    "subsample": [0.5, 0.6, 0.7, 0.8, 0.9, 1.0],
    "colsample_bytree": [0.4, 0.6, 0.8, 1.0],
    "gamma": [0.0, 0.5, 1.0, 4.0],
    "lambda": [0.0, 1.0, 5.0, 20.0, 50.0],
    "alpha": [0.0, 1.0, 5.0],
}
# Long enough that early stopping, not the round cap, ends a run even at the smallest eta.
LOOP = {"num_round": 5000, "early_stopping_rounds": 100, "nthread": 1}
# Per worker process: the train module and every split's train/validation data.
_WORKER: dict = {}


def candidates(trials: int, rng: random.Random, defaults: dict) -> list[dict]:
    current = {name: defaults[name] for name in SEARCH_SPACE}
    sampled = [
        {name: rng.choice(values) for name, values in SEARCH_SPACE.items()} for _ in range(trials)
    ]
    return [current, *sampled]


def _load_worker(split_dirs: list[Path]) -> None:
    train = load_step("training/train.py")
    _WORKER["train"], _WORKER["splits"] = train, []
    for split_dir in split_dirs:
        names = train.load_feature_names(split_dir / "preprocessor")
        _WORKER["splits"].append(
            (
                names,
                train.load_channel(split_dir / "train", "train", len(names)),
                train.load_channel(split_dir / "validation", "validation", len(names)),
            )
        )


def score(settings: dict) -> tuple[float, float]:
    """Mean validation MSE of the kept model, and mean rounds kept, over every split."""
    train: ModuleType = _WORKER["train"]
    mses, rounds = [], []
    for names, train_set, validation_set in _WORKER["splits"]:
        with quiet():
            result = train.fit(train_set, validation_set, names, settings)
        mses.append(result.validation_rmse[result.rounds_kept - 1] ** 2)
        rounds.append(result.rounds_kept)
    return statistics.mean(mses), statistics.mean(rounds)


def prepare_splits(data: Path, seeds: list[int], workdir: Path) -> list[Path]:
    """Preprocess once per seed, then delete the test split so nothing here can read it."""
    preprocess, splits = load_step("preprocess.py"), []
    for seed in seeds:
        split_dir = preprocess_split(preprocess, data, seed, workdir / f"seed-{seed}", Timings())
        for path in (split_dir / "test").iterdir():
            path.unlink()
        splits.append(split_dir)
    return splits


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--seeds", type=int, nargs="+", default=list(TUNING_SEEDS))
    parser.add_argument("--trials", type=int, default=150, help="random candidates to try")
    parser.add_argument("--search-seed", type=int, default=0, help="seed of the random search")
    parser.add_argument("--top", type=int, default=10, help="how many of the best to print")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    defaults = load_step("training/train.py").load_default_hyperparameters()
    trials = candidates(args.trials, random.Random(args.search_seed), defaults)
    with tempfile.TemporaryDirectory(prefix="tune-") as workdir:
        splits = prepare_splits(args.data, args.seeds, Path(workdir))
        settings = [{**defaults, **candidate, **LOOP} for candidate in trials]
        with ProcessPoolExecutor(args.jobs, initializer=_load_worker, initargs=(splits,)) as pool:
            results = list(pool.map(score, settings))
    scored = sorted(
        (
            (mse, rounds, index, trial)
            for index, (trial, (mse, rounds)) in enumerate(zip(trials, results, strict=True))
        ),
        key=lambda item: item[0],
    )
    current = results[0]
    print(f"current defaults: validation MSE {current[0]:.4f}, rounds kept {current[1]:.0f}")
    print(f"best {args.top} of {len(trials)} by mean validation MSE over seeds {args.seeds}:")
    for mse, rounds, index, trial in scored[: args.top]:
        label = "current" if index == 0 else f"trial {index}"
        print(f"  {mse:.4f}  rounds {rounds:>5.0f}  {label:>9}  {json.dumps(trial)}")
    print(f"\nchosen: {json.dumps(scored[0][3])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
