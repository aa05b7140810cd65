"""Time `local-run` on the full abalone data (target: preprocess → registered ≤ 15 s).

Renders the template, starts the embedded AWS stand-in, then runs the generated project's
`local-run` in a fresh process each time, as a user would (installation not included). Reports
the whole command (which includes importing the SageMaker SDK and building the pipeline) and the
span from the start of the first step to the end of registration, with per-step times.

Run from the template root: `.venv/bin/python benchmarks/local_run.py [--runs 3]`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

TEMPLATE_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TEMPLATE_DIR))

from demo.project import SAMPLE_DATA, child_env, import_generated, render  # noqa: E402

DATA = SAMPLE_DATA
TARGET_SECONDS = 15.0


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def pipeline_span(summary: dict) -> float:
    """First step's start to the end of the last step that ran (registration on success)."""
    ran = [step for step in summary["steps"] if step["started_at"]]
    end = max(_instant(s["started_at"]).timestamp() + s["seconds"] for s in ran)
    return end - _instant(ran[0]["started_at"]).timestamp()


def run_once(project, aws, provisioned, run_dir: Path) -> tuple[float, dict]:
    command = [sys.executable, "-m", "mlops_toolkit.runner", "--input-data", str(DATA)]
    # A first run on an empty registry has no baseline to check against: register a new one.
    command += ["--param", "SkipDataQualityCheck=true"]
    command += ["--param", "RegisterNewDataQualityBaseline=true"]
    command += ["--role-arn", provisioned.role_arn, "--artifact-bucket", provisioned.bucket]
    command += ["--run-dir", str(run_dir)]
    env = child_env(project)
    started = time.perf_counter()
    subprocess.run(command, cwd=project.modelbuild, env=env, check=True, capture_output=True)
    wall = time.perf_counter() - started
    summary = json.loads((run_dir / "run-summary.json").read_text())
    if not summary.get("model_package_arn"):
        raise SystemExit(f"run in {run_dir} registered nothing: {summary.get('failure_reason')}")
    return wall, summary


def report(results: list[tuple[float, dict]]) -> None:
    names = [s["name"] for s in results[0][1]["steps"] if s["seconds"] is not None]
    print(f"local-run on {DATA.name}, {len(results)} runs, {os.cpu_count()} CPUs")
    print(f"{'run':>4} {'command s':>10} {'steps s':>8}  " + "  ".join(names))
    for number, (wall, summary) in enumerate(results, start=1):
        seconds = {s["name"]: s["seconds"] for s in summary["steps"]}
        cells = "  ".join(f"{seconds[name]:>{len(name)}.2f}" for name in names)
        print(f"{number:>4} {wall:>10.2f} {pipeline_span(summary):>8.2f}  {cells}")
    spans = [pipeline_span(summary) for _, summary in results]
    walls = [wall for wall, _ in results]
    median = statistics.median(spans)
    verdict = "meets" if median <= TARGET_SECONDS else "MISSES"
    print(
        f"preprocess → registered: median {median:.2f} s, max {max(spans):.2f} s "
        f"({verdict} the {TARGET_SECONDS:.0f} s target); whole command median "
        f"{statistics.median(walls):.2f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    if not DATA.is_file():
        raise SystemExit(f"abalone data not found at {DATA}")
    with tempfile.TemporaryDirectory(prefix="local-run-bench-") as work:
        project = render(Path(work))
        import_generated(project)
        from mlops_toolkit.stand_in import EmbeddedAws

        slug = project.settings["project_slug"]
        with EmbeddedAws(project.settings["aws_region"], f"{slug}-bench", f"{slug}-role") as aws:
            provisioned = aws.provision()
            results = [
                run_once(project, aws, provisioned, Path(work) / f"run-{n}") for n in range(runs)
            ]
    report(results)


if __name__ == "__main__":
    main()
