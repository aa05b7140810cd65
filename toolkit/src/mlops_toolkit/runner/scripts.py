"""Run a step's script as a child process, with its output kept in the step's log."""

from __future__ import annotations

import os
import shlex
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from mlops_toolkit.errors import StepFailed
from mlops_toolkit.runner import fork_server

# Enough of stderr to carry a multi-line validation message, short enough for a summary.
MAX_DETAIL_CHARS = 2000
# A laptop is shared with everything else running on it, unlike a training instance. OpenMP's
# default of spinning while it waits (XGBoost, scikit-learn) then turns a 2 s training into 5 to
# 25 s on two busy cores; sleeping instead gives the same model. A value the user set wins.
SHARED_MACHINE_ENV = {"OMP_WAIT_POLICY": "PASSIVE"}
# Steps run on worker threads and Ctrl-C reaches only the main thread (and not at all a child of
# the fork server, in its own session): the runner stops these processes itself.
_running: set = set()
_running_lock = threading.Lock()


def stop_running_scripts() -> None:
    """Kill every step process running now (their ``run_script`` calls then return)."""
    with _running_lock:
        processes = list(_running)
    for process in processes:
        process.kill()


@dataclass(frozen=True)
class ScriptRun:
    command: list[str]
    cwd: Path
    log_file: Path
    env: dict[str, str] = field(default_factory=dict)
    timeout: float | None = None
    # SageMaker's convention: a script may explain its failure in /opt/ml/output/failure.
    failure_file: Path | None = None


def _tee(stream: IO[bytes], log: IO[str], lines: list[str]) -> None:
    for raw in iter(stream.readline, b""):
        line = raw.decode("utf-8", errors="replace")
        lines.append(line)
        log.write(line)
        log.flush()


def failure_detail(stderr: str) -> str:
    """The part of stderr that explains the failure: the exception line after a traceback,
    otherwise everything the script printed there (our scripts print one clear message)."""
    text = stderr.strip()
    if "Traceback (most recent call last):" in text:
        text = text.splitlines()[-1].strip()
    return text if len(text) <= MAX_DETAIL_CHARS else "…" + text[-MAX_DETAIL_CHARS:]


def _start(run: ScriptRun, env: dict[str, str], log: IO[str], label: str):
    """The step's process: a child of the fork server where it can run there, else a fresh one."""
    server = fork_server.active()
    if server is not None and server.can_run(run.command, env):
        read_end, write_end = os.pipe()
        try:
            forked = server.start(run.command, run.cwd, env, log, write_end)
        finally:
            os.close(write_end)
        if forked is not None:
            return forked, os.fdopen(read_end, "rb")
        os.close(read_end)
    try:
        process = subprocess.Popen(
            run.command, cwd=run.cwd, env=env, stdout=log, stderr=subprocess.PIPE
        )
    except OSError as error:
        raise StepFailed(f"{label}: cannot start {run.command[0]} ({error})") from None
    return process, process.stderr


def base_environment() -> dict[str, str]:
    """What every step's environment starts from, before the step's own variables."""
    return {**SHARED_MACHINE_ENV, **os.environ, "PYTHONUNBUFFERED": "1"}


def run_script(run: ScriptRun, label: str) -> None:
    """Run to completion; raise StepFailed with the script's own explanation if it fails."""
    run.log_file.parent.mkdir(parents=True, exist_ok=True)
    env = {**base_environment(), **run.env}
    stderr_lines: list[str] = []
    with run.log_file.open("a", encoding="utf-8") as log:
        log.write(f"$ {shlex.join(run.command)}\n")
        log.flush()
        process, stderr = _start(run, env, log, label)
        reader = threading.Thread(target=_tee, args=(stderr, log, stderr_lines))
        reader.start()
        with _running_lock:
            _running.add(process)
        try:
            returncode = process.wait(timeout=run.timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            raise StepFailed(
                f"{label} ran longer than its MaxRuntimeInSeconds ({run.timeout:.0f} s) and was "
                "stopped"
            ) from None
        except BaseException:
            process.kill()
            raise
        finally:
            process.wait()
            with _running_lock:
                _running.discard(process)
            reader.join()
            stderr.close()
    if returncode != 0:
        raise StepFailed(_failure_message(run, label, returncode, "".join(stderr_lines)))


def _failure_message(run: ScriptRun, label: str, returncode: int, stderr: str) -> str:
    detail = ""
    if run.failure_file is not None and run.failure_file.is_file():
        detail = run.failure_file.read_text(encoding="utf-8", errors="replace").strip()
    detail = detail or failure_detail(stderr) or "(it printed nothing on stderr)"
    return f"{label} exited with code {returncode}: {detail}"
