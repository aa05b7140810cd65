"""Time `cookiecutter . --no-input` (target ≤ 2 s), as a user runs it: a fresh process each time.

Run from the template root: `.venv/bin/python benchmarks/render_time.py [--runs 5]`.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TEMPLATE_DIR = Path(__file__).resolve().parents[1]


def time_one_render() -> float:
    with tempfile.TemporaryDirectory() as output:
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "cookiecutter", str(TEMPLATE_DIR), "--no-input", "-o", output],
            check=True,
            capture_output=True,
        )
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    times = [time_one_render() for _ in range(runs)]
    print(f"cookiecutter --no-input, {runs} runs (includes interpreter start and the hooks)")
    print(f"  median {statistics.median(times):.2f} s   max {max(times):.2f} s   target 2.00 s")


if __name__ == "__main__":
    main()
