"""``make demo``: render the template, run its pipeline locally on the abalone data against an
embedded AWS stand-in, register and approve the model, serve it on loopback, invoke it, and
print what happened. Everything it starts (moto server, local endpoint) stops when it ends,
including on an error or Ctrl-C.

    python demo/run_demo.py [--framework xgboost|pytorch|sklearn] [--deployment realtime|batch]
                            [--input-data PATH] [--output-dir DIR]

With ``--deployment batch`` the approved version scores S3 prefixes as a batch transform
instead of being served: drift is read from the transform's capture, and retraining follows.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console  # noqa: E402

from demo.batch_stages import BATCH_STAGES  # noqa: E402
from demo.deploy_stages import BOOTSTRAP_STAGES, DEPLOY_STAGES  # noqa: E402
from demo.monitoring_stages import MONITORING_STAGES  # noqa: E402
from demo.project import SAMPLE_DATA, TEMPLATE_ROOT  # noqa: E402
from demo.report import print_summary  # noqa: E402
from demo.stages import SETUP_STAGES, STAGES, DemoContext, DemoError  # noqa: E402
from mlops_template.frameworks import DEFAULT_FRAMEWORK, FRAMEWORKS  # noqa: E402

# The order a project lives through: set up, bootstrap AWS, train and register, deploy, monitor.
ALL_STAGES = [
    *SETUP_STAGES,
    *BOOTSTRAP_STAGES,
    *STAGES,
    *DEPLOY_STAGES,
    *MONITORING_STAGES,
]
# Batch: trained, registered and approved the same way; then transformed instead of served.
TRAIN_AND_APPROVE = STAGES[:2]
DEMO_STAGES = {
    "realtime": ALL_STAGES,
    "batch": [*SETUP_STAGES, *BOOTSTRAP_STAGES, *TRAIN_AND_APPROVE, *BATCH_STAGES],
}

DEFAULT_INPUT = SAMPLE_DATA
DEFAULT_OUTPUT = TEMPLATE_ROOT / "demo-output"
EXIT_FAILED, EXIT_INTERRUPTED = 1, 130


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input-data", type=Path, default=DEFAULT_INPUT)
    parser.add_argument(
        "--framework",
        choices=FRAMEWORKS,
        default=DEFAULT_FRAMEWORK,
        help="the training framework to generate the project for (default: %(default)s)",
    )
    parser.add_argument(
        "--deployment",
        choices=tuple(DEMO_STAGES),
        default="realtime",
        help="show the endpoint (realtime) or the batch transform (default: %(default)s)",
    )
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=DEFAULT_OUTPUT,
        help="emptied first, then holds the project, the run and the endpoint files",
    )
    return parser.parse_args(argv)


def run_stages(
    ctx: DemoContext, timings: list[tuple[str, float]], stages: list = ALL_STAGES
) -> None:
    for number, stage in enumerate(stages, start=1):
        ctx.console.rule(f"[bold]{number}/{len(stages)} {stage.title}")
        started = time.monotonic()
        stage.run(ctx)
        timings.append((stage.title, time.monotonic() - started))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console()
    output_dir = args.output_dir.resolve()
    shutil.rmtree(output_dir, ignore_errors=True)
    output_dir.mkdir(parents=True)
    timings: list[tuple[str, float]] = []
    with ExitStack() as cleanup:
        ctx = DemoContext(
            output_dir,
            args.input_data.resolve(),
            console,
            cleanup,
            framework=args.framework,
            deployment=args.deployment,
        )
        try:
            run_stages(ctx, timings, DEMO_STAGES[args.deployment])
        except DemoError as error:
            console.print(f"[bold red]demo failed:[/] {error}", highlight=False)
            return EXIT_FAILED
        except KeyboardInterrupt:
            console.print("[yellow]interrupted[/]; stopping everything the demo started")
            return EXIT_INTERRUPTED
        print_summary(console, ctx, timings)
    console.print("Stopped the local endpoint and the AWS stand-in. [green]Demo finished.[/]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
