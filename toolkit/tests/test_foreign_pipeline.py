"""The runner runs a pipeline that is not the template's, end to end, from outside any project.

The pipeline (``foreign_pipeline``) has two processing steps side by side feeding a third, and a
condition on a JsonGet of another step's property file; its builder takes other arguments.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import s3_json

from mlops_toolkit.runner import cli

PIPELINE = "foreign_pipeline:build"


def numbers(stand_in, account, values: list[float]) -> str:
    body = "\n".join(str(v) for v in values).encode()
    stand_in.client("s3").put_object(Bucket=account.bucket, Key="numbers/a.txt", Body=body)
    return f"s3://{account.bucket}/numbers/"


def local_run(account, run_dir: Path, *extra: str) -> tuple[int, dict | None]:
    code = cli.main(
        [
            *("--role-arn", account.role_arn, "--artifact-bucket", account.bucket),
            *("--run-dir", str(run_dir)),
            *extra,
        ]
    )
    summary_file = run_dir / "run-summary.json"
    return code, json.loads(summary_file.read_text()) if summary_file.exists() else None


def statuses(summary: dict) -> dict[str, str]:
    return {step["name"]: step["status"] for step in summary["steps"]}


def test_parallel_steps_feed_a_third_and_the_gate_reads_another_property_file(
    stand_in, account, elsewhere, tmp_path
):
    numbers(stand_in, account, [1, 2, 3, 4, 10])

    code, summary = local_run(account, tmp_path / "run", "--pipeline", PIPELINE)

    assert code == 0, summary
    assert summary["pipeline_name"] == "numbers-report"
    assert statuses(summary) == {
        "CountRows": "Succeeded",
        "SumValues": "Succeeded",
        "Combine": "Succeeded",
        "EnoughRows": "Succeeded",
        "Publish": "Succeeded",
        "TooFewRows": "NotExecuted",
    }
    gate = next(s for s in summary["steps"] if s["name"] == "EnoughRows")
    assert gate["details"]["outcome"] is True
    published = next(s for s in summary["steps"] if s["name"] == "Publish")
    uri = published["outputs"]["published"]["s3_uri"] + "/published.json"
    assert s3_json(stand_in, uri) == {"rows": 5, "mean": 4.0, "published": True}


def test_the_else_branch_fails_the_run_with_the_pipelines_message(
    stand_in, account, elsewhere, tmp_path
):
    numbers(stand_in, account, [1, 2])

    code, summary = local_run(account, tmp_path / "run", "--pipeline", PIPELINE)

    assert code == 1
    assert statuses(summary)["Publish"] == "NotExecuted"
    assert statuses(summary)["TooFewRows"] == "Failed"
    assert summary["failure_reason"] == "only 2 rows; MinRows is 3"


def write_definition(stand_in, account, folder: Path) -> Path:
    """The foreign pipeline's definition, its code uploaded (as ``pipeline.definition()`` does)."""
    import boto3
    from foreign_pipeline import build

    pipeline = build(
        role_arn=account.role_arn,
        default_bucket=account.bucket,
        boto_session=boto3.Session(region_name=stand_in.region),
    )
    path = folder / "numbers.json"
    path.write_text(pipeline.definition())
    return path


def test_a_definition_file_runs_as_the_function_does(stand_in, account, elsewhere, tmp_path):
    numbers(stand_in, account, [5, 5, 5])
    definition = write_definition(stand_in, account, tmp_path)

    code, summary = local_run(
        account, tmp_path / "run", "--definition", str(definition), "--param", "MinRows=4"
    )

    assert code == 1
    assert summary["pipeline_name"] == "numbers"
    assert summary["failure_reason"] == "only 3 rows; MinRows is 4"


@pytest.mark.parametrize(("min_rows", "status"), [("1", 0), ("9", 1)])
def test_the_command_exits_with_the_runs_status_and_prints_all_of_its_summary(
    stand_in, account, elsewhere, tmp_path, min_rows, status
):
    # As its own process: it leaves without the interpreter's teardown, so --json's output and
    # the exit status must still come out whole.
    numbers(stand_in, account, [5, 5, 5])
    definition = write_definition(stand_in, account, tmp_path)
    command = [sys.executable, "-m", "mlops_toolkit.runner", "--definition", str(definition)]
    command += ["--role-arn", account.role_arn, "--artifact-bucket", account.bucket]
    command += ["--run-dir", str(tmp_path / "run"), "--param", f"MinRows={min_rows}", "--json"]

    buffered = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}

    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=buffered)

    assert done.returncode == status, done.stderr
    assert json.loads(done.stdout) == json.loads((tmp_path / "run/run-summary.json").read_text())


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ([], "which pipeline?"),
        (["--pipeline", "foreign_pipeline"], "expects module:function"),
        (["--pipeline", "no_such_module:build"], "cannot import no_such_module"),
        (["--pipeline", "foreign_pipeline:nothing"], "has no function nothing"),
        (["--pipeline", PIPELINE, "--input-data", "x.csv"], "add input-parameter"),
        (["--pipeline", PIPELINE, "--param", "Nope=1"], "the pipeline has no such parameter"),
    ],
)
def test_what_cannot_run_is_refused_before_any_step(
    stand_in, account, elsewhere, tmp_path, capsys, arguments, message
):
    code, summary = local_run(account, tmp_path / "run", *arguments)

    assert code == 2
    assert message in capsys.readouterr().err
    assert summary is None


def test_a_builder_argument_local_run_cannot_give_is_named(
    stand_in, account, elsewhere, tmp_path, capsys, monkeypatch
):
    import foreign_pipeline

    def needs_more(*, role_arn, default_bucket, boto_session, team):
        raise AssertionError("must not be called")

    monkeypatch.setattr(foreign_pipeline, "needs_more", needs_more, raising=False)
    code, _ = local_run(account, tmp_path / "run", "--pipeline", "foreign_pipeline:needs_more")

    assert code == 2
    assert "needs team, which local-run cannot supply" in capsys.readouterr().err


def test_an_unsupported_step_is_refused_naming_it(stand_in, account, elsewhere, tmp_path, capsys):
    definition = {
        "Version": "2020-12-01",
        "Parameters": [],
        "Steps": [{"Name": "Notify", "Type": "Lambda", "Arguments": {}}],
    }
    definition_file = tmp_path / "lambda.json"
    definition_file.write_text(json.dumps(definition))

    code, summary = local_run(account, tmp_path / "run", "--definition", str(definition_file))

    assert code == 2
    assert "step 'Notify' has type 'Lambda'" in capsys.readouterr().err
    assert summary is None


def test_code_uploaded_with_the_definition_file_is_what_the_steps_run(
    stand_in, account, elsewhere, tmp_path
):
    import boto3
    from foreign_pipeline import SCRIPTS, build

    numbers(stand_in, account, [2, 4])
    pipeline = build(
        role_arn=account.role_arn,
        default_bucket=account.bucket,
        boto_session=boto3.Session(region_name=stand_in.region),
    )
    definition = json.loads(pipeline.definition())
    definition_file = tmp_path / "numbers.json"
    definition_file.write_text(json.dumps(definition))
    # Take the uploaded code away again: --code must bring it back from the folders given.
    s3 = stand_in.client("s3")
    code_flags = []
    for step in definition["Steps"][:3]:
        [code] = [i for i in step["Arguments"]["ProcessingInputs"] if i["InputName"] == "code"]
        uri = code["S3Input"]["S3Uri"]
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        s3.delete_object(Bucket=bucket, Key=key)
        folder = tmp_path / "code" / step["Name"]
        folder.mkdir(parents=True)
        script = SCRIPTS / key.rsplit("/", 1)[1]
        (folder / script.name).write_text(script.read_text())
        code_flags += ["--code", f"{folder}=s3://{bucket}/{key.rsplit('/', 1)[0]}"]

    code, summary = local_run(
        account,
        tmp_path / "run",
        *("--definition", str(definition_file), "--param", "MinRows=1"),
        *code_flags,
    )

    assert code == 0, summary
    assert statuses(summary)["Publish"] == "Succeeded"


# Put before a step's script: the step marks that it started, then waits for the other step to
# have started too, so the two pass only when they run at the same time.
MEET = """\
import sys as _sys, time as _time
from pathlib import Path as _Path
_folder, _me, _other = _Path({folder!r}), {me!r}, {other!r}
(_folder / _me).touch()
_deadline = _time.monotonic() + {seconds}
while not (_folder / _other).exists():
    if _time.monotonic() > _deadline:
        _sys.exit(f"{{_other}} did not start while {{_me}} ran")
    _time.sleep(0.02)
if {fail!r} == _me:
    _sys.exit(f"{{_me}} fails on purpose")
"""


def run_meeting_steps(
    stand_in, account, tmp_path: Path, *extra: str, seconds: float = 30, fail: str = ""
) -> tuple[int, dict | None]:
    """Run the pipeline with CountRows and SumValues (both need only the raw numbers) waiting
    for each other."""
    from foreign_pipeline import SCRIPTS

    numbers(stand_in, account, [1, 2, 3, 4])
    definition = json.loads(write_definition(stand_in, account, tmp_path).read_text())
    meet = tmp_path / "meet"
    meet.mkdir()
    pairs = {"CountRows": "SumValues", "SumValues": "CountRows"}
    code_flags = []
    for step in definition["Steps"]:
        if step["Name"] not in pairs:
            continue
        [code] = [i for i in step["Arguments"]["ProcessingInputs"] if i["InputName"] == "code"]
        bucket, _, key = code["S3Input"]["S3Uri"].removeprefix("s3://").partition("/")
        folder = tmp_path / "code" / step["Name"]
        folder.mkdir(parents=True)
        original = (SCRIPTS / key.rsplit("/", 1)[1]).read_text()
        prologue = MEET.format(
            folder=str(meet), me=step["Name"], other=pairs[step["Name"]], seconds=seconds, fail=fail
        )
        (folder / key.rsplit("/", 1)[1]).write_text(prologue + original)
        code_flags += ["--code", f"{folder}=s3://{bucket}/{key.rsplit('/', 1)[0]}"]
    definition_file = tmp_path / "numbers.json"
    definition_file.write_text(json.dumps(definition))
    return local_run(
        account, tmp_path / "run", "--definition", str(definition_file), *code_flags, *extra
    )


def test_steps_whose_upstream_steps_are_done_run_side_by_side(
    stand_in, account, elsewhere, tmp_path
):
    code, summary = run_meeting_steps(stand_in, account, tmp_path, "--max-parallel-steps", "2")

    assert code == 0, summary
    assert set(statuses(summary).values()) == {"Succeeded", "NotExecuted"}
    assert statuses(summary)["Publish"] == "Succeeded"


def test_one_step_at_a_time_when_asked(stand_in, account, elsewhere, tmp_path):
    code, summary = run_meeting_steps(
        stand_in, account, tmp_path, "--max-parallel-steps", "1", seconds=1
    )

    assert code == 1
    assert statuses(summary)["CountRows"] == "Failed"
    assert "SumValues did not start while CountRows ran" in summary["failure_reason"]
    # Nothing starts after a failure.
    assert statuses(summary)["SumValues"] == "NotStarted"
    assert statuses(summary)["Combine"] == "NotStarted"


def test_after_a_failure_the_running_steps_finish_and_nothing_new_starts(
    stand_in, account, elsewhere, tmp_path
):
    code, summary = run_meeting_steps(
        stand_in, account, tmp_path, "--max-parallel-steps", "2", fail="CountRows"
    )

    assert code == 1
    assert statuses(summary)["CountRows"] == "Failed"
    assert "CountRows fails on purpose" in summary["failure_reason"]
    assert statuses(summary)["SumValues"] == "Succeeded"
    assert statuses(summary)["Combine"] == "NotStarted"
    assert statuses(summary)["EnoughRows"] == "NotStarted"


def test_a_wrong_number_of_parallel_steps_is_named(elsewhere, capsys):
    with pytest.raises(SystemExit):
        cli.main(["--max-parallel-steps", "0", "--definition", "x.json"])
    assert "--max-parallel-steps: expected a whole number of at least 1, not '0'" in (
        capsys.readouterr().err
    )


def test_ctrl_c_stops_the_running_step_and_leaves_its_summary(
    stand_in, account, elsewhere, tmp_path
):
    def interrupt_once_counting() -> None:
        deadline = time.monotonic() + 60
        while not (tmp_path / "meet" / "CountRows").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        # What Ctrl-C does: the signal reaches the main thread, which waits on the step threads.
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt_once_counting, daemon=True).start()
    # CountRows waits up to 30 s for a SumValues that never starts beside it.
    code, summary = run_meeting_steps(stand_in, account, tmp_path, "--max-parallel-steps", "1")

    assert code == 130
    assert summary["status"] == "Stopped"
    assert statuses(summary)["CountRows"] == "Stopped"
    assert statuses(summary)["SumValues"] == "NotStarted"
