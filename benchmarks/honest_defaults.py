"""Choose every framework's training defaults on validation folds, report them on unseen shuffles.

Choosing: for each of the 20 *choosing* row shuffles, the generated preprocess step splits the
full data set with that seed; its test split is deleted unread, and the remaining rows (train plus
validation, 85 %) are cut into 5 folds (repeated 5-fold cross-validation: 100 fits per candidate,
each with the pipeline's train/validation proportions, 68 %/17 % of the data). A candidate's score
is its mean validation MSE over the folds, computed by the generated train.py's own ``fit`` (early
stopping on the held-out fold, as the pipeline stops on its validation channel). Every candidate
of a coarse grid, and a few targeted changes to the incumbent (``TARGETED``), is screened on the
first shuffles; the best few and the incumbent
(hyperparameters.json) are scored on all of them; the lowest mean wins among those whose mean fit
time is at most twice the defaults' before this benchmark existed (``PREVIOUS_DEFAULTS``).

Reporting: on 10 *unseen* shuffles (seeds never used for choosing), the generated step scripts
train and evaluate, exactly as model_quality.py does, (a) the AWS seed's XGBoost hyperparameters,
(b) each framework's previous defaults, (c) the winner; test MSE mean and standard deviation,
improvement over (a) on the same shuffles, and training time against (b).

    nice -n 19 .venv/bin/python benchmarks/honest_defaults.py [--frameworks xgboost ...]
                        [--jobs 2] [--screen-shuffles 2] [--finalists 3] [--grid-points N]
                        [--no-search pytorch ...] [--write]

``--write`` updates the template's hyperparameters.json of a framework whose winner beat the
incumbent on the choosing folds. Exits 1 when a framework misses the 7 % target on unseen shuffles.
"""

from __future__ import annotations

import os

# One thread per fit, set before numpy, XGBoost, scikit-learn or torch load their thread pools:
# the folds run in parallel processes, and on data this small a fit's own threads cost more than
# they save. Timings of every candidate are taken the same way, so their ratios stay fair.
os.environ["OMP_NUM_THREADS"] = "1"

import argparse  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from types import ModuleType  # noqa: E402

import numpy as np  # noqa: E402

TEMPLATE_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TEMPLATE_ROOT))
sys.path.insert(0, str(TEMPLATE_ROOT / "benchmarks"))

from model_quality import (  # noqa: E402
    AWS_SEED_HYPERPARAMETERS,
    DEFAULT_DATA,
    Timings,
    hyperparameter_flags,
    load_steps,
    preprocess_split,
    quiet,
    train_and_evaluate,
)

from demo.project import render  # noqa: E402
from mlops_template.frameworks import FRAMEWORKS  # noqa: E402

CHOOSING_SEEDS = tuple(range(1001, 1021))
UNSEEN_SEEDS = tuple(range(1, 11))
FOLDS = 5
TARGET_IMPROVEMENT_PERCENT = 7.0
MAX_SLOWDOWN = 2.0
HYPERPARAMETERS = Path("src") / "modelbuild" / "steps" / "training" / "hyperparameters.json"
TRAINING_SOURCE = (
    TEMPLATE_ROOT
    / "{{cookiecutter.project_slug}}"
    / "{{cookiecutter.project_slug}}-modelbuild"
    / "src"
    / "modelbuild"
    / "steps"
)

# The defaults before issue 18 (chosen on 5 seeds, or not tuned at all): the reference for the
# training-time budget, and reported on the unseen shuffles so the change is visible.
PREVIOUS_DEFAULTS = {
    "xgboost": {
        "objective": "reg:squarederror",
        "num_round": 5000,
        "early_stopping_rounds": 100,
        "max_depth": 6,
        "eta": 0.02,
        "gamma": 0.0,
        "min_child_weight": 1.0,
        "subsample": 0.5,
        "colsample_bytree": 0.6,
        "lambda": 20.0,
        "alpha": 0.0,
        "seed": 42,
        # Added later; XGBoost's default, what the previous defaults had.
        "monotone_constraints": "()",
    },
    "pytorch": {
        "hidden_sizes": "64,64",
        "epochs": 500,
        "early_stopping_patience": 25,
        "batch_size": 128,
        "learning_rate": 0.002,
        "weight_decay": 0.0,
        "dropout": 0.0,
        "seed": 42,
        "device": "auto",
    },
    "sklearn": {
        "loss": "squared_error",
        "max_iter": 2000,
        "n_iter_no_change": 50,
        "learning_rate": 0.05,
        "max_leaf_nodes": 31,
        "max_depth": 0,
        "min_samples_leaf": 20,
        "l2_regularization": 1.0,
        "max_features": 0.8,
        "max_bins": 255,
        "random_state": 42,
        # Added later; these values are scikit-learn's defaults, what the previous defaults had.
        "interaction_cst": "none",
        "monotonic_cst": "()",
    },
}

# Coarse grids around values that suit a few thousand rows of smooth, noisy measurements. The
# Poisson losses are there because rings are counts whose spread grows with their mean.
GRIDS = {
    "xgboost": {
        "objective": ["reg:squarederror", "count:poisson"],
        "max_depth": [2, 3, 4, 6],
        "eta": [0.02, 0.05],
        "min_child_weight": [1.0, 5.0, 20.0],
        "subsample": [0.5, 0.8],
        "colsample_bytree": [0.6, 1.0],
        "lambda": [1.0, 20.0],
    },
    "pytorch": {
        "hidden_sizes": ["64,64", "128,128", "64,64,64"],
        "learning_rate": [0.001, 0.002, 0.005],
        "weight_decay": [0.0, 0.0001, 0.001],
        "batch_size": [64, 128],
        "dropout": [0.0, 0.1],
    },
    "sklearn": {
        "loss": ["squared_error", "poisson"],
        "learning_rate": [0.05, 0.1],
        "max_leaf_nodes": [7, 15, 31],
        "min_samples_leaf": [20, 50],
        "l2_regularization": [0.0, 1.0, 10.0],
        "max_features": [0.5, 0.8, 1.0],
    },
}
CANDIDATES_PER_FRAMEWORK = {"xgboost": 16, "pytorch": 12, "sklearn": 12}

# A wider search (issue 18's second round) for the two tree learners the grid left short of the
# target: screened with the grid, each a change to the incumbent. Why these: rings grow with the
# shell's size and weight (monotonic constraints on the first seven, numeric, features: length,
# diameter, height, whole, shucked, viscera, shell weight; the one-hot sex columns after them stay
# unconstrained), their spread grows with their mean (Poisson, gamma and Tweedie losses), and a
# smooth target suits many small steps and small trees (lower learning rates, leaf-wise growth).
SIZE_AND_WEIGHT_RISE = "(0,1,1,1,0,0,1)"  # diameter, height, whole and shell weight
SHUCKED_FALLS_TOO = "(0,1,1,1,-1,0,1)"  # at a given whole weight, more meat means a younger shell
TARGETED = {
    "xgboost": [
        {"objective": "reg:gamma"},
        {"monotone_constraints": SIZE_AND_WEIGHT_RISE},
        {"objective": "reg:gamma", "monotone_constraints": SIZE_AND_WEIGHT_RISE},
        {"objective": "reg:gamma", "monotone_constraints": SIZE_AND_WEIGHT_RISE, "eta": 0.05},
        {"objective": "reg:gamma", "monotone_constraints": SHUCKED_FALLS_TOO, "eta": 0.05},
        {
            "objective": "reg:gamma",
            "monotone_constraints": SIZE_AND_WEIGHT_RISE,
            "eta": 0.05,
            "max_depth": 8,
        },
    ],
    "pytorch": [],
    "sklearn": [
        {"loss": "gamma"},
        {"monotonic_cst": SIZE_AND_WEIGHT_RISE},
        {"loss": "gamma", "monotonic_cst": SIZE_AND_WEIGHT_RISE},
        {"loss": "gamma", "monotonic_cst": SIZE_AND_WEIGHT_RISE, "max_features": 0.8},
        {
            "loss": "gamma",
            "monotonic_cst": SIZE_AND_WEIGHT_RISE,
            "max_leaf_nodes": 63,
            "l2_regularization": 5.0,
        },
        {
            "loss": "gamma",
            "monotonic_cst": SIZE_AND_WEIGHT_RISE,
            "max_leaf_nodes": 63,
            "l2_regularization": 5.0,
            "max_features": 0.8,
        },
    ],
}

# Per worker process: the framework, its train module and every choosing fold.
_WORKER: dict = {}


@dataclass(frozen=True)
class Fold:
    feature_names: list[str]
    train: object  # training_io.Dataset of the generated project
    validation: object


@dataclass
class Score:
    """One candidate's validation MSE and fit seconds per fold scored so far."""

    settings: dict
    mse: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    @property
    def mean_mse(self) -> float:
        return statistics.mean(self.mse)

    @property
    def mean_seconds(self) -> float:
        return statistics.mean(self.seconds)


def candidates(framework: str, incumbent: dict, count: int, seed: int = 0) -> list[dict]:
    """The incumbent first, then the targeted changes to it, then ``count`` distinct grid points
    drawn with a fixed seed."""
    grid = GRIDS[framework]
    points = [dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())]
    drawn = random.Random(seed).sample(points, min(count, len(points)))
    merged = [{**incumbent, **point} for point in TARGETED[framework] + drawn]
    unique = [incumbent]
    for settings in merged:
        if settings not in unique:
            unique.append(settings)
    return unique


def kfold(dataset_type: type, pooled: object, seed: int, folds: int) -> list[tuple]:
    """``folds`` (train, validation) pairs of one shuffle's rows, in a seeded random order."""
    order = np.random.default_rng(seed).permutation(len(pooled.labels))
    parts = np.array_split(order, folds)
    pairs = []
    for index, held_out in enumerate(parts):
        kept = np.concatenate([part for other, part in enumerate(parts) if other != index])
        pairs.append(
            (
                dataset_type(pooled.features[kept], pooled.labels[kept]),
                dataset_type(pooled.features[held_out], pooled.labels[held_out]),
            )
        )
    return pairs


def _load_worker(framework: str, modelbuild: Path, splits: list[tuple[int, Path]]) -> None:
    train = load_steps(modelbuild, framework)["train"]
    # train.py's sibling, loaded with it: the channels are read exactly as train.py reads them.
    training_io = sys.modules[train.Dataset.__module__]
    folds = []
    for seed, split_dir in splits:
        names = training_io.load_feature_names(split_dir / "preprocessor")
        parts = [
            training_io.load_channel(split_dir / channel, channel, len(names))
            for channel in ("train", "validation")
        ]
        pooled = train.Dataset(
            np.vstack([part.features for part in parts]),
            np.concatenate([part.labels for part in parts]),
        )
        folds.append([Fold(names, *pair) for pair in kfold(train.Dataset, pooled, seed, FOLDS)])
    _WORKER.update(framework=framework, train=train, folds=folds)


def kept_validation_mse(framework: str, train: ModuleType, fold: Fold, settings: dict) -> float:
    """Validation MSE of the model train.py would save: each framework reports it its own way."""
    if framework == "xgboost":
        result = train.fit(fold.train, fold.validation, fold.feature_names, settings)
        return result.validation_rmse[result.rounds_kept - 1] ** 2
    if framework == "pytorch":
        result = train.fit(fold.train, fold.validation, settings, train.choose_device("cpu"))
        return result.validation_mse[result.kept_epoch - 1]
    result = train.fit(fold.train, fold.validation, settings)
    return result.validation_mse[result.iterations_kept - 1]


def score_fold(task: tuple[dict, int, int]) -> tuple[float, float]:
    settings, shuffle, fold = task
    started = time.perf_counter()
    with quiet():
        mse = kept_validation_mse(
            _WORKER["framework"], _WORKER["train"], _WORKER["folds"][shuffle][fold], settings
        )
    return mse, time.perf_counter() - started


def score_all(pool: ProcessPoolExecutor, scores: list[Score], shuffles: range, folds: int) -> None:
    """Score every candidate on the first ``folds`` folds of each shuffle (all 5: 5-fold CV)."""
    tasks = [
        (index, (score.settings, shuffle, fold))
        for index, score in enumerate(scores)
        for shuffle in shuffles
        for fold in range(folds)
    ]
    results = pool.map(score_fold, [task for _, task in tasks], chunksize=1)
    for (index, _), (mse, seconds) in zip(tasks, results, strict=True):
        scores[index].mse.append(mse)
        scores[index].seconds.append(seconds)


def prepare_choosing_splits(preprocess: ModuleType, data: Path, workdir: Path) -> list:
    """Preprocess once per choosing seed, then delete the test split so nothing can read it."""
    splits = []
    for seed in CHOOSING_SEEDS:
        split_dir = preprocess_split(preprocess, data, seed, workdir / f"seed-{seed}", Timings())
        for path in (split_dir / "test").iterdir():
            path.unlink()
        splits.append((seed, split_dir))
    return splits


@dataclass
class Choice:
    framework: str
    incumbent: Score
    previous: Score
    finalists: list[Score]
    winner: Score
    screened: int
    folds: int


def choose(framework: str, modelbuild: Path, splits: list, args: argparse.Namespace) -> Choice:
    """Screen the grid on a few shuffles, then the finalists and incumbent on all of them."""
    incumbent = json.loads((modelbuild / HYPERPARAMETERS).read_text())
    count = CANDIDATES_PER_FRAMEWORK[framework] if args.grid_points is None else args.grid_points
    trials = candidates(framework, incumbent, count)
    previous = PREVIOUS_DEFAULTS[framework]
    if previous not in trials:
        trials.insert(1, previous)
    screened = [Score(settings) for settings in trials]
    with ProcessPoolExecutor(
        args.jobs, initializer=_load_worker, initargs=(framework, modelbuild, splits)
    ) as pool:
        score_all(pool, screened, range(args.screen_shuffles), args.folds_used)
        ranked = sorted(screened[1:], key=lambda score: score.mean_mse)
        finalists = [Score(screened[0].settings)]
        finalists += [Score(s.settings) for s in ranked[: args.finalists]]
        if all(score.settings != previous for score in finalists):
            finalists.append(Score(previous))
        score_all(pool, finalists, range(len(CHOOSING_SEEDS)), args.folds_used)
    by_settings = {json.dumps(s.settings, sort_keys=True): s for s in finalists}
    previous_score = by_settings[json.dumps(previous, sort_keys=True)]
    budget = MAX_SLOWDOWN * previous_score.mean_seconds
    affordable = [score for score in finalists if score.mean_seconds <= budget] or finalists[:1]
    return Choice(
        framework=framework,
        incumbent=finalists[0],
        previous=previous_score,
        finalists=finalists,
        winner=min(affordable, key=lambda score: score.mean_mse),
        screened=len(screened),
        folds=args.folds_used,
    )


def keep_incumbent(framework: str, modelbuild: Path) -> Choice:
    """--no-search: hyperparameters.json as chosen (by an earlier run), reported unseen only."""
    incumbent = Score(json.loads((modelbuild / HYPERPARAMETERS).read_text()))
    previous = Score(PREVIOUS_DEFAULTS[framework])
    return Choice(framework, incumbent, previous, [], incumbent, screened=0, folds=0)


def print_choice(choice: Choice) -> None:
    if not choice.screened:
        changed = _changed(choice.framework, choice.winner.settings)
        print(f"\n{choice.framework}: not searched in this run; hyperparameters.json: {changed}")
        return
    print(
        f"\n{choice.framework}: {choice.screened} candidates screened on the first "
        f"shuffles; finalists on {len(CHOOSING_SEEDS)} shuffles x {choice.folds} of {FOLDS} "
        "folds (validation MSE, mean ± sd over folds; mean fit s):"
    )
    for score in sorted(choice.finalists, key=lambda s: s.mean_mse):
        tags = [
            label
            for label, other in (
                ("incumbent", choice.incumbent),
                ("previous", choice.previous),
                ("WINNER", choice.winner),
            )
            if other is score
        ]
        changed = _changed(choice.framework, score.settings)
        print(
            f"  {score.mean_mse:.4f} ± {statistics.stdev(score.mse):.4f}  "
            f"{score.mean_seconds:6.2f} s  {','.join(tags):<18} {changed}"
        )


def _changed(framework: str, settings: dict) -> str:
    previous = PREVIOUS_DEFAULTS[framework]
    changed = {k: v for k, v in settings.items() if k not in previous or previous[k] != v}
    return "vs previous: " + json.dumps(changed)


@dataclass
class Unseen:
    mse: dict[str, list[float]] = field(default_factory=dict)
    train_seconds: dict[str, list[float]] = field(default_factory=dict)


def evaluate_unseen(
    projects: dict, choices: dict[str, Choice], data: Path, workdir: Path
) -> Unseen:
    """Train and evaluate with the generated scripts on every unseen shuffle."""
    steps = {name: load_steps(project.modelbuild, name) for name, project in projects.items()}
    runs = [("AWS seed (xgboost)", "xgboost", {**AWS_SEED_HYPERPARAMETERS, "seed": 42})]
    for name, choice in choices.items():
        runs.append((f"{name} previous", name, choice.previous.settings))
        runs.append((f"{name} chosen", name, choice.winner.settings))
    for label, framework, settings in runs:
        # A hyperparameter left off the command line takes hyperparameters.json's value, which
        # would hand the chosen defaults to the baseline or the previous defaults.
        unset = set(json.loads((projects[framework].modelbuild / HYPERPARAMETERS).read_text()))
        if unset - set(settings):
            raise SystemExit(f"{label}: no value for {', '.join(sorted(unset - set(settings)))}")
    unseen = Unseen()
    first = next(iter(steps.values()))
    for seed in UNSEEN_SEEDS:
        timings = Timings()
        split = preprocess_split(first["preprocess"], data, seed, workdir / f"u{seed}", timings)
        for label, framework, settings in runs:
            name = label.replace(" ", "-").replace("(", "").replace(")", "")
            flags = hyperparameter_flags(settings)
            mse = train_and_evaluate(steps[framework], split, name, flags, timings)
            unseen.mse.setdefault(label, []).append(mse)
            unseen.train_seconds.setdefault(label, []).append(timings.seconds[f"train ({name})"][0])
    return unseen


def report_unseen(unseen: Unseen, choices: dict[str, Choice], target: float) -> bool:
    baseline = unseen.mse["AWS seed (xgboost)"]
    print(f"\ntest MSE on {len(UNSEEN_SEEDS)} unseen shuffles (preprocess seeds {UNSEEN_SEEDS}):")
    print(
        f"{'model':<20} {'mean':>7} {'sd':>6} {'vs AWS seed':>12} {'paired sd':>10} "
        f"{'train s':>8}  per shuffle"
    )
    met = True
    for label, values in unseen.mse.items():
        gains = [100 * (1 - mine / theirs) for mine, theirs in zip(values, baseline, strict=True)]
        improvement = 100 * (1 - statistics.mean(values) / statistics.mean(baseline))
        versus = "baseline" if values is baseline else f"{improvement:.1f}% lower"
        spread = "" if values is baseline else f"{statistics.stdev(gains):.1f}%"
        print(
            f"{label:<20} {statistics.mean(values):>7.3f} {statistics.stdev(values):>6.3f} "
            f"{versus:>12} {spread:>10} {statistics.mean(unseen.train_seconds[label]):>8.2f}  "
            + " ".join(f"{v:.3f}" for v in values)
        )
    print()
    for name in choices:
        chosen = statistics.mean(unseen.mse[f"{name} chosen"])
        improvement = 100 * (1 - chosen / statistics.mean(baseline))
        slowdown = statistics.mean(unseen.train_seconds[f"{name} chosen"]) / statistics.mean(
            unseen.train_seconds[f"{name} previous"]
        )
        ok = improvement >= target
        met &= ok
        print(
            f"{name}: chosen defaults {improvement:.1f}% lower mean test MSE than the AWS seed "
            f"on unseen shuffles (target {target:.0f}%: {'met' if ok else 'NOT met'}); "
            f"training time {slowdown:.2f}x the previous defaults'"
        )
    return met


# Settings that only hold for this data set: the gamma loss refuses labels of 0 or below, and
# the constraints name abalone's feature positions. A team's first change to the template is its
# own data, so these may be explored here but never become the template's defaults
# (docs/benchmarks.md, "A second, wider search").
DATA_SPECIFIC = {
    "objective": {"reg:gamma"},
    "loss": {"gamma"},
    "monotone_constraints": None,
    "monotonic_cst": None,
    "interaction_cst": None,
}
NEUTRAL = {"()", "none", "", None}


def data_specific(settings: dict) -> list[str]:
    """The settings of ``settings`` that would tie the defaults to this data set."""
    found = []
    for name, values in DATA_SPECIFIC.items():
        value = settings.get(name)
        if value in NEUTRAL:
            continue
        if values is None or value in values:
            found.append(f"{name}={value}")
    return found


def write_winner(choice: Choice) -> None:
    """Only a winner that beat the incumbent on the choosing folds, and that holds for any
    regression table, replaces it."""
    if choice.winner is choice.incumbent:
        print(f"{choice.framework}: incumbent kept (hyperparameters.json unchanged)")
        return
    tied = data_specific(choice.winner.settings)
    if tied:
        print(
            f"{choice.framework}: winner not written: {', '.join(tied)} only hold for this data "
            "set (see DATA_SPECIFIC)"
        )
        return
    path = TRAINING_SOURCE / f"training_{choice.framework}" / "hyperparameters.json"
    path.write_text(json.dumps(choice.winner.settings, indent=2) + "\n", encoding="utf-8")
    print(f"{choice.framework}: wrote the winner to {path.relative_to(TEMPLATE_ROOT)}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--frameworks", nargs="+", choices=FRAMEWORKS, default=list(FRAMEWORKS))
    parser.add_argument("--jobs", type=int, default=2, help="fits in parallel (one thread each)")
    parser.add_argument("--screen-shuffles", type=int, default=2)
    parser.add_argument(
        "--grid-points",
        type=int,
        help="grid points drawn per framework besides the targeted changes "
        f"(default {CANDIDATES_PER_FRAMEWORK})",
    )
    parser.add_argument("--finalists", type=int, default=2)
    parser.add_argument(
        "--folds-used",
        type=int,
        default=FOLDS,
        choices=range(1, FOLDS + 1),
        help="folds scored per shuffle (5: repeated 5-fold CV; 1: one held-out fold per shuffle)",
    )
    parser.add_argument(
        "--no-search",
        nargs="+",
        default=[],
        choices=FRAMEWORKS,
        help="report these frameworks' hyperparameters.json on unseen shuffles without searching",
    )
    parser.add_argument("--target", type=float, default=TARGET_IMPROVEMENT_PERCENT)
    parser.add_argument("--write", action="store_true", help="update hyperparameters.json")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="honest-defaults-") as work:
        workdir = Path(work)
        with quiet():
            projects = {
                name: render(workdir / f"render-{name}", framework=name) for name in args.frameworks
            }
        preprocess = load_steps(next(iter(projects.values())).modelbuild, "pre")["preprocess"]
        splits = prepare_choosing_splits(preprocess, args.data.resolve(), workdir / "choosing")
        choices = {}
        for name, project in projects.items():
            if name in args.no_search:
                choices[name] = keep_incumbent(name, project.modelbuild)
            else:
                choices[name] = choose(name, project.modelbuild, splits, args)
            print_choice(choices[name])
            print(f"  ({time.perf_counter() - started:.0f} s so far)", flush=True)
        unseen = evaluate_unseen(projects, choices, args.data.resolve(), workdir / "unseen")
    met = report_unseen(unseen, choices, args.target)
    for choice in choices.values():
        print(f"{choice.framework} winner: {json.dumps(choice.winner.settings)}")
        if args.write:
            write_winner(choice)
    print(f"\ntotal {time.perf_counter() - started:.0f} s")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
