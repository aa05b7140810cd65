"""Time `mlops-bootstrap bootstrap --yes` against the local AWS stand-in (target ≤ 10 s).

Each run is a fresh process on a freshly generated project and an empty moto server, as a user's
first bootstrap is; git pushes go to local bare repositories. Teardown is timed too.
Run from the template root: `.venv/bin/python benchmarks/bootstrap.py [--runs 3]`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from bootstrap_stand_in import (  # noqa: E402
    BOOTSTRAPPED,
    bare_remotes,
    bootstrap_env,
    copy_project,
    inventory,
    render_seed_project,
    run_bootstrap,
    stand_in,
)

TARGET_SECONDS = 10.0


def timed(project: Path, env: dict[str, str], *args: str) -> float:
    started = time.perf_counter()
    result = run_bootstrap(project, env, *args)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    bootstraps, teardowns = [], []
    with tempfile.TemporaryDirectory() as scratch, stand_in() as aws:
        seed = render_seed_project(Path(scratch) / "seed")
        for run in range(runs):
            aws.reset()
            project = copy_project(seed, Path(scratch) / f"run{run}" / seed.name)
            env = bootstrap_env(aws, bare_remotes(Path(scratch) / f"run{run}" / "remotes"))
            bootstraps.append(timed(project, env, "bootstrap", "--yes"))
            if inventory(aws) != BOOTSTRAPPED:
                raise SystemExit(f"unexpected resources after bootstrap: {inventory(aws)}")
            teardowns.append(timed(project, env, "teardown", "--yes"))
    print(f"mlops-bootstrap bootstrap --yes, {runs} fresh runs against moto on 127.0.0.1")
    print(
        f"  bootstrap  median {statistics.median(bootstraps):.2f} s   "
        f"max {max(bootstraps):.2f} s   target {TARGET_SECONDS:.2f} s"
    )
    print(f"  teardown   median {statistics.median(teardowns):.2f} s   max {max(teardowns):.2f} s")
    if max(bootstraps) > TARGET_SECONDS:
        raise SystemExit("bootstrap is slower than the target")


if __name__ == "__main__":
    main()
