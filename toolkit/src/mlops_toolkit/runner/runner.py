"""Execute a pipeline definition on this machine, in dependency order.

The steps, their order, their arguments and the branches all come from the definition the SDK
generated (read with ``mlops_toolkit.definition.step_graph``), never from a second description of
the DAG, so a step added, renamed or rewired in the pipeline's code runs locally as it would in
SageMaker. As in SageMaker, every step whose upstream steps have succeeded starts at once (up to
``max_parallel_steps``, SageMaker's MaxParallelExecutionSteps): a data-quality check runs beside
the training that does not wait for it. After the first failure (or a Fail step) no further step
starts; the steps already running finish, and the run fails.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import string
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3

from mlops_toolkit.artifacts import ArtifactStore, LocalObject
from mlops_toolkit.aws import LazyClient, client
from mlops_toolkit.definition import StepNode, step_graph
from mlops_toolkit.errors import LocalRunError, StepFailed, UnsupportedStepError
from mlops_toolkit.runner.conditions import evaluate_all
from mlops_toolkit.runner.console import Reporter
from mlops_toolkit.runner.context import StepContext, StepOutcome
from mlops_toolkit.runner.expressions import Resolver, RunState
from mlops_toolkit.runner.processing import run_processing
from mlops_toolkit.runner.quality_check import run_quality_check
from mlops_toolkit.runner.registry import run_register
from mlops_toolkit.runner.scripts import stop_running_scripts
from mlops_toolkit.runner.summary import (
    FAILED,
    NOT_EXECUTED,
    NOT_STARTED,
    STOPPED,
    SUCCEEDED,
    RunSummary,
    StepRecord,
)
from mlops_toolkit.runner.training import run_training
from mlops_toolkit.runner.tuning import run_tuning
from mlops_toolkit.runner.workspace import RunLayout

SUPPORTED_STEP_TYPES = (
    "Processing",
    "Training",
    "Tuning",
    "QualityCheck",
    "Condition",
    "RegisterModel",
    "Fail",
)
_ID_ALPHABET = string.ascii_lowercase + string.digits


def default_parallel_steps() -> int:
    """One step per core, at most four: on a laptop, more only makes each of them slower."""
    return max(1, min(4, os.cpu_count() or 1))


def new_execution_id() -> str:
    """Shaped like SageMaker's (lowercase letters and digits), marked as local."""
    return "local-" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(8))


def job_name(execution_id: str, step: str) -> str:
    """A SageMaker-valid job name (63 characters, letters, digits and hyphens)."""
    name = re.sub(r"[^A-Za-z0-9-]+", "-", f"pipelines-{execution_id}-{step}")
    return name[:63].strip("-")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def check_wiring(nodes: dict[str, StepNode]) -> None:
    """Every dependency names a step, and there is an order to run them in (no cycle)."""
    for node in nodes.values():
        unknown = sorted(node.depends_on - set(nodes))
        if unknown:
            raise LocalRunError(f"step {node.name!r} depends on unknown step(s) {unknown}")
    done: set[str] = set()
    while len(done) < len(nodes):
        ready = {
            name for name, node in nodes.items() if name not in done and node.depends_on <= done
        }
        if not ready:
            raise LocalRunError(
                f"steps {sorted(set(nodes) - done)} depend on each other in a cycle"
            )
        done |= ready


def check_supported(nodes: dict[str, StepNode]) -> None:
    """Refuse up front, naming the step, rather than run half a pipeline or skip a step."""
    check_wiring(nodes)
    for node in nodes.values():
        if node.type not in SUPPORTED_STEP_TYPES:
            raise UnsupportedStepError(
                f"step {node.name!r} has type {node.type!r}, which the local runner does not run "
                f"(it runs {', '.join(SUPPORTED_STEP_TYPES)}). Run this pipeline in SageMaker with "
                "run-pipeline instead."
            )


@dataclass(frozen=True)
class RunOptions:
    run_dir: Path
    pipeline_name: str
    region: str
    execution_id: str = field(default_factory=new_execution_id)
    # Tags for a model package group the run has to create.
    tags: list[dict[str, str]] = field(default_factory=list)
    # S3 objects (by URI) a local file may hold the bytes of: staged from that file if so.
    local_objects: dict[str, LocalObject] = field(default_factory=dict)
    # How many steps may run at once; 1 runs them one after another.
    max_parallel_steps: int = field(default_factory=default_parallel_steps)


class LocalRun:
    def __init__(
        self,
        definition: dict[str, Any],
        parameters: dict[str, Any],
        options: RunOptions,
        session: boto3.Session,
        reporter: Reporter | None = None,
    ) -> None:
        self.definition = definition
        self.nodes = step_graph(definition)
        check_supported(self.nodes)
        self.options = options
        self.layout = RunLayout(options.run_dir)
        self.reporter = reporter or Reporter()
        self.sagemaker = LazyClient(session, "sagemaker")
        self.store = ArtifactStore(client(session, "s3"), known=options.local_objects)
        self.account = client(session, "sts").get_caller_identity()["Account"]
        self.summary = self._new_summary(parameters)
        self.state = RunState(
            parameters=parameters, execution=self._execution_variables(), read_s3=self.store.read
        )
        self.resolver = Resolver(self.state)
        self.records = {name: StepRecord(name, node.type) for name, node in self.nodes.items()}
        self.summary.steps = list(self.records.values())
        # Condition name → the branch it took (the step names on that branch).
        self.taken: dict[str, list[str]] = {}
        # Steps run on worker threads: resolving arguments reads what finished steps recorded.
        self._state_lock = threading.Lock()
        self._interrupted = threading.Event()

    def _new_summary(self, parameters: dict[str, Any]) -> RunSummary:
        arn = (
            f"arn:aws:sagemaker:{self.options.region}:{self.account}:pipeline/"
            f"{self.options.pipeline_name}/execution/{self.options.execution_id}"
        )
        return RunSummary(
            pipeline_name=self.options.pipeline_name,
            execution_id=self.options.execution_id,
            execution_arn=arn,
            run_dir=str(self.layout.root),
            parameters=parameters,
            started_at=now_iso(),
        )

    def _execution_variables(self) -> dict[str, str]:
        return {
            "PipelineExecutionId": self.options.execution_id,
            "PipelineExecutionArn": self.summary.execution_arn,
            "PipelineName": self.options.pipeline_name,
            "PipelineExperimentName": self.options.pipeline_name,
            "PipelineExecutionStartTime": self.summary.started_at,
            "CurrentDateTime": self.summary.started_at,
        }

    def run(self) -> RunSummary:
        started = time.monotonic()
        self.layout.root.mkdir(parents=True, exist_ok=True)
        self.layout.definition_file.write_text(json.dumps(self.definition, indent=2), "utf-8")
        try:
            self._run_all()
        except KeyboardInterrupt:
            self._mark_stopped()
            raise
        finally:
            self._finish(time.monotonic() - started)
        return self.summary

    def _mark_stopped(self) -> None:
        for record in self.records.values():
            if record.started_at and record.status == NOT_STARTED:
                record.status, record.message = STOPPED, "interrupted while running"
        self.summary.status = STOPPED

    def _finish(self, seconds: float) -> None:
        """Always leave a summary behind, whatever ended the run."""
        failed = [r for r in self.records.values() if r.status == FAILED]
        if self.summary.status != STOPPED:
            self.summary.status = FAILED if failed else SUCCEEDED
        self.summary.failure_reason = failed[0].message if failed else None
        self.summary.seconds = round(seconds, 3)
        self.summary.write(self.layout.summary_file)

    def _run_all(self) -> None:
        """Start every ready step (up to the limit), and again each time one ends; after a
        failure start nothing more and let the running steps finish."""
        limit = max(1, self.options.max_parallel_steps)
        running: dict[Future, str] = {}
        failed = False
        with ThreadPoolExecutor(max_workers=limit, thread_name_prefix="step") as pool:
            try:
                while True:
                    for node in [] if failed else self._ready_steps(limit - len(running)):
                        # Its start time, set here, keeps the next pass from starting it again.
                        self.records[node.name].started_at = now_iso()
                        running[pool.submit(self._run_step, node)] = node.name
                    if not running:
                        return
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                    for future in done:
                        del running[future]
                        failed |= not future.result()
            except KeyboardInterrupt:
                # Ctrl-C reaches this thread only: stop the steps' processes so their threads end
                # (leaving the pool waits for them).
                self._interrupted.set()
                stop_running_scripts()
                raise

    def _ready_steps(self, room: int) -> Iterator[StepNode]:
        """Up to ``room`` unclaimed steps, in definition order, whose upstream steps all
        succeeded; on the way, marks the steps no branch taken can reach."""
        marked = True
        while marked:  # a step marked not executed may leave steps after it unreachable
            marked = False
            for name, node in self.nodes.items():
                record = self.records[name]
                if record.status != NOT_STARTED or record.started_at:
                    continue
                upstream = [self.records[d].status for d in node.depends_on]
                if NOT_EXECUTED in upstream or self._off_branch(name):
                    self._mark_not_executed(record, "(branch not taken)")
                    marked = True
        for name, node in self.nodes.items():
            record = self.records[name]
            if room <= 0:
                return
            if record.status != NOT_STARTED or record.started_at:
                continue
            if all(self.records[d].status == SUCCEEDED for d in node.depends_on):
                room -= 1
                yield node

    def _off_branch(self, name: str) -> bool:
        for condition, node in self.nodes.items():
            on_branch = name in node.if_steps + node.else_steps
            if on_branch and condition in self.taken and name not in self.taken[condition]:
                return True
        return False

    def _mark_not_executed(self, record: StepRecord, why: str) -> None:
        record.status, record.message = NOT_EXECUTED, why
        self.reporter.step_finished(record)

    def _run_step(self, node: StepNode) -> bool:
        record = self.records[node.name]
        record.log = str(self.layout.log_file(node.name))
        self.reporter.step_started(record)
        started = time.monotonic()
        try:
            outcome = self._execute(node, self._context(node))
        except LocalRunError as error:
            record.status, record.message = FAILED, str(error)
        except Exception as error:  # recorded in the summary, traceback in the log
            record.status, record.message = FAILED, f"unexpected {type(error).__name__}: {error}"
            self._context(node).log(traceback.format_exc())
        else:
            self._record_success(node, record, outcome)
        if record.status == FAILED and self._interrupted.is_set():
            record.status, record.message = STOPPED, "interrupted while running"
        record.seconds = round(time.monotonic() - started, 3)
        self.reporter.step_finished(record)
        return record.status == SUCCEEDED

    def _context(self, node: StepNode) -> StepContext:
        return StepContext(
            name=node.name,
            workspace=self.layout.workspace(node.name),
            log_file=self.layout.log_file(node.name),
            store=self.store,
            job_name=job_name(self.options.execution_id, node.name),
            region=self.options.region,
            account=self.account,
        )

    def _execute(self, node: StepNode, ctx: StepContext) -> StepOutcome:
        executors: dict[str, Callable[[StepNode, StepContext], StepOutcome]] = {
            "Processing": lambda n, c: run_processing(n.raw, self._arguments(n), c),
            "Training": lambda n, c: run_training(n.raw, self._arguments(n), c),
            "Tuning": lambda n, c: run_tuning(self._arguments(n), c),
            "QualityCheck": lambda n, c: run_quality_check(
                self._check_fields(n), self._arguments(n), c, self.sagemaker
            ),
            "RegisterModel": lambda n, c: run_register(
                self._arguments(n), c, self.sagemaker, self.options.tags
            ),
            "Condition": self._condition,
            "Fail": self._fail,
        }
        return executors[node.type](node, ctx)

    def _resolve(self, value: Any) -> Any:
        with self._state_lock:
            return self.resolver.resolve(value)

    def _arguments(self, node: StepNode) -> dict[str, Any]:
        return self._resolve(node.raw.get("Arguments", {}))

    def _check_fields(self, node: StepNode) -> dict[str, Any]:
        """A check step's settings sit beside its Arguments (SkipCheck, baselines, group)."""
        return self._resolve({k: v for k, v in node.raw.items() if k != "Arguments"})

    def _condition(self, node: StepNode, ctx: StepContext) -> StepOutcome:
        outcomes = evaluate_all(node.raw["Arguments"].get("Conditions", []), self._resolve)
        holds = all(outcome.result for outcome in outcomes)
        self.taken[node.name] = node.if_steps if holds else node.else_steps
        ctx.log(f"# conditions {'hold' if holds else 'do not hold'}: {outcomes}")
        details = {"outcome": holds, "conditions": [asdict(o) for o in outcomes]}
        return StepOutcome({"Outcome": str(holds).lower()}, details=details)

    def _fail(self, node: StepNode, ctx: StepContext) -> StepOutcome:
        message = self._resolve(node.raw.get("Arguments", {}).get("ErrorMessage", ""))
        ctx.log(f"# Fail step reached: {message}")
        raise StepFailed(str(message) or f"the pipeline reached the Fail step {node.name}")

    def _record_success(self, node: StepNode, record: StepRecord, outcome: StepOutcome) -> None:
        record.outputs, record.details = outcome.outputs, outcome.details
        for name, path in outcome.property_files.items():
            try:
                record.property_files[name] = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as error:
                record.property_files[name] = {"error": f"cannot read {path}: {error}"}
        with self._state_lock:
            self.state.properties[node.name] = outcome.properties
            self.state.property_files[node.name] = outcome.property_files
            # Last: a step that waits for this one may start as soon as it reads Succeeded.
            record.status = SUCCEEDED
