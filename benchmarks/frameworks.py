"""Every training framework on the same splits: test MSE against the AWS-seed XGBoost baseline,
training time, and the whole local run.

For each framework a project is generated with its defaults. For each preprocessing seed the
projects' own step scripts preprocess the full data set once; every framework trains on that same
split with its hyperparameters.json, and the generated XGBoost project also trains with the
hyperparameters of AWS's seed code (the baseline). Then each project's `local-run` runs on the
full data against the embedded AWS stand-in, preprocess → registered (three times by default).

    .venv/bin/python benchmarks/frameworks.py [--seeds 1 2 3 4 5] [--frameworks pytorch ...]
                                              [--local-runs 3]

Exits 1 when a framework's mean test MSE misses the default quality gate (6.0).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

TEMPLATE_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TEMPLATE_ROOT))
sys.path.insert(0, str(TEMPLATE_ROOT / "benchmarks"))

from local_run import pipeline_span, run_once  # noqa: E402
from local_run import report as report_local_runs  # noqa: E402
from model_quality import (  # noqa: E402
    AWS_SEED_HYPERPARAMETERS,
    DEFAULT_DATA,
    Timings,
    default_hyperparameters,
    hyperparameter_flags,
    load_steps,
    preprocess_split,
    quiet,
    train_and_evaluate,
)

from demo.project import RenderedProject, import_generated, render  # noqa: E402
from mlops_template.frameworks import FRAMEWORKS  # noqa: E402

QUALITY_GATE = 6.0
BASELINE = "xgboost (AWS seed)"


@dataclass
class Results:
    mse: dict[str, list[float]] = field(default_factory=dict)
    train_seconds: dict[str, list[float]] = field(default_factory=dict)
    # Per framework, each local run's (whole command seconds, run summary).
    local_run: dict[str, list[tuple[float, dict]]] = field(default_factory=dict)


def score_on_splits(
    projects: dict[str, RenderedProject], data: Path, seeds: list[int], workdir: Path
) -> Results:
    steps = {name: load_steps(project.modelbuild, name) for name, project in projects.items()}
    runs = [(name, name, []) for name in projects]
    if "xgboost" in projects:
        # As in model_quality.py: only the tuned values differ, the random seed is ours.
        seed = default_hyperparameters(projects["xgboost"].modelbuild)["seed"]
        runs.append(
            (BASELINE, "xgboost", hyperparameter_flags({**AWS_SEED_HYPERPARAMETERS, "seed": seed}))
        )
    results, timings = Results(), Timings()
    for seed in seeds:
        first = next(iter(steps.values()))
        split = preprocess_split(first["preprocess"], data, seed, workdir / f"seed-{seed}", timings)
        for label, framework, flags in runs:
            started = time.perf_counter()
            mse = train_and_evaluate(
                steps[framework], split, label.replace(" ", "-"), flags, timings
            )
            results.mse.setdefault(label, []).append(mse)
            results.train_seconds.setdefault(label, []).append(time.perf_counter() - started)
    return results


def time_local_runs(
    projects: dict[str, RenderedProject], workdir: Path, runs: int, results: Results
) -> None:
    for name, project in projects.items():
        import_generated(project)
        from mlops_toolkit.stand_in import EmbeddedAws

        slug = project.settings["project_slug"]
        with EmbeddedAws(project.settings["aws_region"], f"{slug}-bench", f"{slug}-role") as aws:
            # moto keeps its resources per process, across servers: start each project empty.
            aws.reset()
            provisioned = aws.provision()
            results.local_run[name] = [
                run_once(project, aws, provisioned, workdir / f"local-run-{name}-{number}")
                for number in range(runs)
            ]
        sys.path.remove(str(project.src))
        for module in [m for m in sys.modules if m == "modelbuild" or m.startswith("modelbuild.")]:
            del sys.modules[module]


def report(results: Results, seeds: list[int]) -> bool:
    baseline = statistics.mean(results.mse[BASELINE]) if BASELINE in results.mse else None
    print(f"test MSE on the same splits (preprocessing seeds {seeds}), defaults of each framework")
    print(
        f"{'framework':<20} {'mean MSE':>9} {'vs AWS-seed XGB':>16} {'train+eval s':>13}  per seed"
    )
    passed = True
    for label, values in results.mse.items():
        mean = statistics.mean(values)
        versus = "baseline" if label == BASELINE or not baseline else ""
        versus = versus or f"{100 * (1 - mean / baseline):.1f}% lower"
        seconds = statistics.mean(results.train_seconds[label])
        per_seed = " ".join(f"{v:.3f}" for v in values)
        print(f"{label:<20} {mean:>9.3f} {versus:>16} {seconds:>13.2f}  {per_seed}")
        passed &= label == BASELINE or mean <= QUALITY_GATE
    if results.local_run:
        for name, runs in results.local_run.items():
            print(f"\n{name}: ", end="")
            report_local_runs(runs)
        header = f"{'median command s':>17} {'median preprocess → registered s':>33}"
        print(f"\n{'framework':<20} {header}")
        for name, runs in results.local_run.items():
            wall = statistics.median(wall for wall, _ in runs)
            span = statistics.median(pipeline_span(summary) for _, summary in runs)
            print(f"{name:<20} {wall:>17.2f} {span:>33.2f}")
    return passed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data",
        type=Path,
        default=DEFAULT_DATA,
        help="raw abalone CSV (default: the sample the template ships)",
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--frameworks", nargs="+", choices=FRAMEWORKS, default=list(FRAMEWORKS))
    parser.add_argument("--local-runs", type=int, default=3, help="0 skips the local runs")
    args = parser.parse_args(argv)
    if not args.data.is_file():
        parser.error(f"--data {args.data} is not a file")
    with tempfile.TemporaryDirectory(prefix="frameworks-bench-") as work:
        workdir = Path(work)
        with quiet():
            projects = {
                name: render(workdir / f"render-{name}", framework=name) for name in args.frameworks
            }
        for name in default_hyperparameters_report(projects):
            print(name)
        results = score_on_splits(projects, args.data.resolve(), args.seeds, workdir)
        if args.local_runs > 0:
            time_local_runs(projects, workdir, args.local_runs, results)
    passed = report(results, args.seeds)
    print(f"\nevery framework's mean test MSE ≤ {QUALITY_GATE}: {'yes' if passed else 'NO'}")
    return 0 if passed else 1


def default_hyperparameters_report(projects: dict[str, RenderedProject]) -> list[str]:
    return [
        f"{name}: {default_hyperparameters(project.modelbuild)}"
        for name, project in projects.items()
    ]


if __name__ == "__main__":
    sys.exit(main())
