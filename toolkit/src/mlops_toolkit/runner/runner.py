"""Execute a pipeline definition on this machine, step by step, in dependency order.

The steps, their order, their arguments and the branches all come from the definition the SDK
generated (read with ``mlops_toolkit.definition.step_graph``), never from a second description of
the DAG, so a step added, renamed or rewired in the pipeline's code runs locally as it would in
SageMaker. Steps run one at a time; the first failure (or a Fail step) ends the run.
"""

from __future__ import annotations

import json
import re
import secrets
import string
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3

from mlops_toolkit.artifacts import ArtifactStore, LocalObject
from mlops_toolkit.aws import CLIENT_CONFIG
from mlops_toolkit.definition import StepNode, step_graph
from mlops_toolkit.errors import LocalRunError, StepFailed, UnsupportedStepError
from mlops_toolkit.runner.conditions import evaluate_all
from mlops_toolkit.runner.console import Reporter
from mlops_toolkit.runner.context import StepContext, StepOutcome
from mlops_toolkit.runner.expressions import Resolver, RunState
from mlops_toolkit.runner.processing import run_processing
from mlops_toolkit.runner.quality_check import run_quality_check
from mlops_toolkit.runner.registry import run_register
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
        self.sagemaker = session.client("sagemaker", config=CLIENT_CONFIG)
        self.store = ArtifactStore(
            session.client("s3", config=CLIENT_CONFIG), known=options.local_objects
        )
        self.account = session.client("sts", config=CLIENT_CONFIG).get_caller_identity()["Account"]
        self.summary = self._new_summary(parameters)
        self.state = RunState(
            parameters=parameters, execution=self._execution_variables(), read_s3=self.store.read
        )
        self.resolver = Resolver(self.state)
        self.records = {name: StepRecord(name, node.type) for name, node in self.nodes.items()}
        self.summary.steps = list(self.records.values())
        # Condition name → the branch it took (the step names on that branch).
        self.taken: dict[str, list[str]] = {}

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
            while (node := self._next_step()) is not None:
                if not self._run_step(node):
                    break
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

    def _next_step(self) -> StepNode | None:
        """The first step, in definition order, whose upstream steps are all done."""
        for name, node in self.nodes.items():
            record = self.records[name]
            if record.status != NOT_STARTED:
                continue
            upstream = [self.records[d].status for d in node.depends_on]
            if NOT_EXECUTED in upstream or self._off_branch(name):
                self._mark_not_executed(record, "(branch not taken)")
                continue
            if all(status == SUCCEEDED for status in upstream):
                return node
        return None

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
        record.started_at, record.log = now_iso(), str(self.layout.log_file(node.name))
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

    def _arguments(self, node: StepNode) -> dict[str, Any]:
        return self.resolver.resolve(node.raw.get("Arguments", {}))

    def _check_fields(self, node: StepNode) -> dict[str, Any]:
        """A check step's settings sit beside its Arguments (SkipCheck, baselines, group)."""
        return self.resolver.resolve({k: v for k, v in node.raw.items() if k != "Arguments"})

    def _condition(self, node: StepNode, ctx: StepContext) -> StepOutcome:
        outcomes = evaluate_all(node.raw["Arguments"].get("Conditions", []), self.resolver.resolve)
        holds = all(outcome.result for outcome in outcomes)
        self.taken[node.name] = node.if_steps if holds else node.else_steps
        ctx.log(f"# conditions {'hold' if holds else 'do not hold'}: {outcomes}")
        details = {"outcome": holds, "conditions": [asdict(o) for o in outcomes]}
        return StepOutcome({"Outcome": str(holds).lower()}, details=details)

    def _fail(self, node: StepNode, ctx: StepContext) -> StepOutcome:
        message = self.resolver.resolve(node.raw.get("Arguments", {}).get("ErrorMessage", ""))
        ctx.log(f"# Fail step reached: {message}")
        raise StepFailed(str(message) or f"the pipeline reached the Fail step {node.name}")

    def _record_success(self, node: StepNode, record: StepRecord, outcome: StepOutcome) -> None:
        record.status = SUCCEEDED
        record.outputs, record.details = outcome.outputs, outcome.details
        self.state.properties[node.name] = outcome.properties
        self.state.property_files[node.name] = outcome.property_files
        for name, path in outcome.property_files.items():
            try:
                record.property_files[name] = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as error:
                record.property_files[name] = {"error": f"cannot read {path}: {error}"}
