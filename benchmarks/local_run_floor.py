"""Time `local-run` against its floor at 1x, 10x and 100x the abalone data, in one run.

- **local-run**: the generated project's `local-run`, a fresh process each time as a user runs it,
  end to end (importing the SDK, building the definition, every step, registration), measured
  three ways: as a user gets it by default, where the fork server stays warm between runs (the
  first run at each size starts it and is reported on its own line: `first`); with
  `MLOPS_TOOLKIT_FORK_SERVER_IDLE=0`, where every run starts a server of its own and pays for
  importing the step libraries (`own server`).
- **floor**: the same steps with the same arguments, environments and working folders, but every
  step script run inside one warm process (`runpy`, libraries already imported, a warm-up pass
  first); the floor is the time spent in the scripts plus the data-quality baseline, nothing else.

Both run against one embedded AWS stand-in started here. Peak memory is the largest sum of the
resident set sizes of this process (which holds the stand-in), all its descendants and the warm
fork server's processes (no longer descendants once the run that spawned it has ended), sampled
every 50 ms while local-run runs. Warm servers live in a runtime folder of this benchmark's own,
so none from earlier work is reused, and are stopped at the end.

Larger data sets resample the abalone rows with noise: every synthetic row comes from one source
row (its family), and every family lies wholly inside one of train/validation/test. The rows are
placed so that preprocess's own split (the seeded permutation in `split_rows`, called here with
the step's defaults) puts each family where it was assigned, so no near-duplicate straddles the
split and validation/test scores stay honest.

Run from the template root:
`.venv/bin/python benchmarks/local_run_floor.py [--runs 3] [--scales 1,10,100]`.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import os
import runpy
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

# The runner gives every step OMP_WAIT_POLICY=PASSIVE (see mlops_toolkit.runner.scripts); OpenMP
# reads it once, when first loaded, so the warm process must have it before numpy or xgboost.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import psutil  # noqa: E402

TEMPLATE_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TEMPLATE_DIR))

from demo.project import SAMPLE_DATA, child_env, import_generated, render  # noqa: E402

FIRST_RUN_PARAMETERS = ["SkipDataQualityCheck=true", "RegisterNewDataQualityBaseline=true"]
TARGET_RATIO = 2.0
# Multiplicative noise on the numeric features of synthetic rows: small enough to keep the
# measurements plausible, large enough that no two rows of a family are equal.
NOISE = 0.03
SAMPLE_SECONDS = 0.05


# ---------------------------------------------------------------- data


def read_sample() -> tuple[list[str], np.ndarray, np.ndarray]:
    with SAMPLE_DATA.open(newline="", encoding="utf-8") as handle:
        rows = [row for row in csv.reader(handle) if row]
    sex = [row[0] for row in rows]
    numeric = np.array([[float(cell) for cell in row[1:-1]] for row in rows])
    rings = np.array([int(row[-1]) for row in rows])
    return sex, numeric, rings


def family_sizes(total: int, families: int) -> np.ndarray:
    sizes = np.full(families, total // families)
    sizes[: total % families] += 1
    return sizes


def scaled_data(scale: int, target: Path) -> Path:
    """The sample at ``scale`` times its rows, families kept inside one split (see module doc)."""
    if scale == 1:
        return SAMPLE_DATA
    from modelbuild.steps import preprocess

    defaults = preprocess.parse_args([])
    sex, numeric, rings = read_sample()
    sources = len(sex)
    rng = np.random.default_rng(scale)
    total = sources * scale
    slots = preprocess.split_rows(
        total, defaults.seed, defaults.train_fraction, defaults.validation_fraction
    )
    # Split the source rows with the same fractions, then give each split's families its slots.
    by_source = preprocess.split_rows(
        sources, scale, defaults.train_fraction, defaults.validation_fraction
    )
    position_of_source = np.empty(total, dtype=np.int64)
    for source_rows, positions in (
        (by_source.train, slots.train),
        (by_source.validation, slots.validation),
        (by_source.test, slots.test),
    ):
        families = np.repeat(source_rows, family_sizes(len(positions), len(source_rows)))
        position_of_source[positions] = families
    jitter = 1.0 + rng.normal(0.0, NOISE, size=(total, numeric.shape[1]))
    values = np.round(numeric[position_of_source] * jitter, 4)
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        for row, source in enumerate(position_of_source):
            writer.writerow([sex[source], *values[row], rings[source]])
    return target


# ---------------------------------------------------------------- memory


def warm_servers() -> list[psutil.Process]:
    """This benchmark's warm fork servers, their sessions and the steps those forked."""
    runtime = os.environ.get("XDG_RUNTIME_DIR", "\0")
    found: dict[int, psutil.Process] = {}
    for process in psutil.process_iter(["cmdline"]):
        if any("serve_warm" in part and runtime in part for part in process.info["cmdline"] or []):
            with contextlib.suppress(psutil.Error):
                found |= {p.pid: p for p in [process, *process.children(recursive=True)]}
    return list(found.values())


def _command_line(process: psutil.Process) -> str:
    try:
        return " ".join(process.cmdline())
    except psutil.Error:  # ended (a session not yet reaped by its server, say)
        return ""


def stop_warm_servers() -> None:
    servers = [p for p in warm_servers() if "serve_warm" in _command_line(p)]
    for process in servers:
        with contextlib.suppress(psutil.Error):
            process.terminate()
    psutil.wait_procs(servers, timeout=10)


class PeakMemory:
    """Largest summed RSS of this process and its descendants while the block runs."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            # By pid: the server is the first run's child until that run has ended.
            tree = {p.pid: p for p in [me, *me.children(recursive=True), *warm_servers()]}
            for process in tree.values():
                with contextlib.suppress(psutil.Error):
                    total += process.memory_info().rss
            self.peak = max(self.peak, total)
            self._stop.wait(SAMPLE_SECONDS)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()


# ---------------------------------------------------------------- local-run


@dataclass
class Measured:
    seconds: float
    steps: dict[str, float]
    peak_bytes: int = 0
    extra: dict[str, float] = field(default_factory=dict)


def run_local(
    project, provisioned, data: Path, run_dir: Path, own_server: bool = False
) -> Measured:
    command = [sys.executable, "-m", "mlops_toolkit.runner", "--input-data", str(data)]
    for parameter in FIRST_RUN_PARAMETERS:
        command += ["--param", parameter]
    command += ["--role-arn", provisioned.role_arn, "--artifact-bucket", provisioned.bucket]
    command += ["--run-dir", str(run_dir)]
    with PeakMemory() as memory:
        started = time.perf_counter()
        env = child_env(project)
        if own_server:
            env["MLOPS_TOOLKIT_FORK_SERVER_IDLE"] = "0"
        done = subprocess.run(
            command, cwd=project.modelbuild, env=env, capture_output=True, text=True
        )
        wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"local-run failed ({done.returncode}):\n{done.stderr[-3000:]}")
    summary = json.loads((run_dir / "run-summary.json").read_text())
    if not summary.get("model_package_arn"):
        raise SystemExit(f"run in {run_dir} registered nothing: {summary.get('failure_reason')}")
    steps = {s["name"]: s["seconds"] for s in summary["steps"] if s["seconds"] is not None}
    return Measured(wall, steps, memory.peak)


# ---------------------------------------------------------------- floor


class InProcessScripts:
    """Stands in for the runner's ``run_script``: the script runs here, timed, with its own
    argv, working folder, environment and log, as its child process would."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = str(run_dir)
        self.seconds: dict[str, float] = {}

    def __call__(self, run, label: str) -> None:
        from mlops_toolkit.errors import StepFailed

        script, argv = run.command[1], run.command[1:]
        saved_env, saved_argv, saved_path = dict(os.environ), sys.argv, list(sys.path)
        saved_cwd, saved_modules = os.getcwd(), set(sys.modules)
        run.log_file.parent.mkdir(parents=True, exist_ok=True)
        os.environ.update({"PYTHONUNBUFFERED": "1", **run.env})
        os.chdir(run.cwd)
        sys.argv, sys.path[0:0] = argv, [str(Path(script).parent)]
        code: object = 0
        started = time.perf_counter()
        with (
            run.log_file.open("a", encoding="utf-8") as log,
            contextlib.redirect_stdout(log),
            contextlib.redirect_stderr(log),
        ):
            try:
                runpy.run_path(script, run_name="__main__")
            except SystemExit as stop:
                code = stop.code or 0
        self.seconds[label.removeprefix("step ")] = time.perf_counter() - started
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        sys.argv, sys.path[:] = saved_argv, saved_path
        # The script's sibling modules (model_io, ...) belong to that step's code only.
        for name in set(sys.modules) - saved_modules:
            module_file = getattr(sys.modules[name], "__file__", None) or ""
            if module_file.startswith(self.run_dir):
                del sys.modules[name]
        if code != 0:
            raise StepFailed(f"{label} exited with {code} in process (see {run.log_file})")


def run_floor(project, provisioned, data: Path, run_dir: Path) -> Measured:
    from mlops_toolkit.config import load_config
    from mlops_toolkit.runner import cli, processing, training
    from rich.console import Console

    scripts = InProcessScripts(run_dir.resolve())
    arguments = ["--input-data", str(data), "--run-dir", str(run_dir)]
    arguments += [f"--param={parameter}" for parameter in FIRST_RUN_PARAMETERS]
    arguments += ["--role-arn", provisioned.role_arn, "--artifact-bucket", provisioned.bucket]
    saved_cwd = os.getcwd()
    os.chdir(project.modelbuild)
    original = processing.run_script, training.run_script
    processing.run_script = training.run_script = scripts
    try:
        config = load_config()
        args = cli.build_parser(config).parse_args(arguments)
        run, _ = cli.prepare_run(args, config, Console(file=io.StringIO()))
        summary = run.run()
    finally:
        processing.run_script, training.run_script = original
        os.chdir(saved_cwd)
    if not summary.model_package_arn:
        raise SystemExit(f"floor run registered nothing: {summary.failure_reason}")
    steps = dict(scripts.seconds)
    for record in summary.steps:
        if record.type == "QualityCheck" and record.seconds is not None:
            steps[record.name] = record.seconds
    return Measured(sum(steps.values()), steps)


# ---------------------------------------------------------------- report


def median_steps(runs: list[Measured]) -> dict[str, float]:
    names = list(runs[0].steps)
    return {name: statistics.median(run.steps.get(name, 0.0) for run in runs) for name in names}


def report(
    scale: int,
    rows: int,
    local: list[Measured],
    floor: list[Measured],
    first: Measured,
    own: list[Measured],
) -> str:
    local_median = statistics.median(m.seconds for m in local)
    floor_median = statistics.median(m.seconds for m in floor)
    own_median = statistics.median(m.seconds for m in own)
    peak = max(m.peak_bytes for m in [*local, first, *own]) / 2**20
    lines = [
        f"{scale:>4}x ({rows:,} rows): local-run median {local_median:6.2f} s "
        f"[{', '.join(f'{m.seconds:.2f}' for m in local)}], floor median {floor_median:6.2f} s "
        f"[{', '.join(f'{m.seconds:.2f}' for m in floor)}], ratio {local_median / floor_median:.2f}"
        f", peak memory {peak:,.0f} MiB",
        f"       first run (starts the warm server) {first.seconds:6.2f} s, ratio "
        f"{first.seconds / floor_median:.2f}; own server each run median {own_median:6.2f} s "
        f"[{', '.join(f'{m.seconds:.2f}' for m in own)}], ratio {own_median / floor_median:.2f}",
    ]
    local_steps, floor_steps = median_steps(local), median_steps(floor)
    for name, seconds in local_steps.items():
        floor_text = f"{floor_steps[name]:6.2f}" if name in floor_steps else "     -"
        lines.append(f"       {name:<28} local-run {seconds:6.2f} s   floor {floor_text} s")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scales", default="1,10,100", help="comma-separated multiples")
    options = parser.parse_args()
    scales = [int(text) for text in options.scales.split(",")]
    # Short: a Unix socket's path has room for about 100 bytes.
    os.environ["XDG_RUNTIME_DIR"] = tempfile.mkdtemp(prefix="lrf-", dir="/tmp")
    try:
        measure(options.runs, scales)
    finally:
        stop_warm_servers()
        shutil.rmtree(os.environ["XDG_RUNTIME_DIR"], ignore_errors=True)


def measure(runs: int, scales: list[int]) -> None:
    first: dict[int, Measured] = {}
    local: dict[int, list[Measured]] = {}
    own: dict[int, list[Measured]] = {}
    with tempfile.TemporaryDirectory(prefix="local-run-floor-") as work_text:
        work = Path(work_text)
        project = render(work)
        import_generated(project)
        from mlops_toolkit.stand_in import EmbeddedAws

        slug = project.settings["project_slug"]
        data = {scale: scaled_data(scale, work / f"data-{scale}x.csv") for scale in scales}
        rows = {scale: sum(1 for _ in data[scale].open()) for scale in scales}
        with EmbeddedAws(project.settings["aws_region"], f"{slug}-bench", f"{slug}-role") as aws:
            provisioned = aws.provision()
            for scale in scales:
                stop_warm_servers()
                first[scale] = run_local(
                    project, provisioned, data[scale], work / f"first-{scale}x"
                )
                local[scale] = [
                    run_local(project, provisioned, data[scale], work / f"local-{scale}x-{n}")
                    for n in range(runs)
                ]
                # Idle warm servers would count in these runs' memory.
                stop_warm_servers()
                own[scale] = [
                    run_local(project, provisioned, data[scale], work / f"own-{scale}x-{n}", True)
                    for n in range(runs)
                ]
            # Warm-up: imports and first-call costs are not part of the floor.
            run_floor(project, provisioned, data[scales[0]], work / "floor-warm-up")
            floor = {
                scale: [
                    run_floor(project, provisioned, data[scale], work / f"floor-{scale}x-{n}")
                    for n in range(runs)
                ]
                for scale in scales
            }
    print(f"local-run vs floor, {runs} runs each, {os.cpu_count()} CPUs")
    for scale in scales:
        print(report(scale, rows[scale], local[scale], floor[scale], first[scale], own[scale]))
    verdict = statistics.median(m.seconds for m in local[scales[0]]) / statistics.median(
        m.seconds for m in floor[scales[0]]
    )
    print(f"ratio at {scales[0]}x: {verdict:.2f} (target ≤ {TARGET_RATIO})")


if __name__ == "__main__":
    main()
