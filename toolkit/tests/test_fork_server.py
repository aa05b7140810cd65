"""The fork server: each step forked from it is as isolated as a fresh process would be."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlops_toolkit.errors import LocalRunError, StepFailed
from mlops_toolkit.runner import fork_server, warm_server
from mlops_toolkit.runner.scripts import ScriptRun, base_environment, run_script

pytestmark = pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork")

# Printed by a step: whether the server had numpy imported before forking it.
PRELOADED = "import sys\nprint('preloaded', 'numpy' in sys.modules)\n"


@pytest.fixture(params=["own", "warm"])
def server(request, monkeypatch, private_runtime):
    """Every isolation test runs against a server of the run's own and a warm one."""
    monkeypatch.setenv(warm_server.ENV_IDLE, "0" if request.param == "own" else "30")
    with fork_server.fork_server(True, base_environment()) as started:
        assert started.warm is (request.param == "warm")
        yield started


@pytest.fixture
def private_runtime(monkeypatch) -> Iterator[Path]:
    """A runtime folder of the test's own (short: a socket's path has about 100 bytes), so
    warm servers of other tests and of the user are neither used nor disturbed."""
    base = Path(tempfile.mkdtemp(prefix="fs-", dir="/tmp"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(base))
    yield base / f"mlops-toolkit-{os.getuid()}"
    for sock in base.glob("*/fork-*.sock"):
        # Tell whatever server still listens that it is idle for good.
        subprocess.run(["pkill", "-f", str(sock)], check=False)
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def own_server(monkeypatch, private_runtime):
    """Servers that stop with the run (the early-start tests watch that process)."""
    monkeypatch.setenv(warm_server.ENV_IDLE, "0")


def _step(folder: Path, body: str, **options) -> ScriptRun:
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "step.py"
    script.write_text(body)
    return ScriptRun(
        command=[sys.executable, str(script), "--alpha", "1"],
        cwd=folder,
        log_file=folder / "step.log",
        **options,
    )


def _log(run: ScriptRun) -> list[str]:
    return run.log_file.read_text().splitlines()


def test_a_forked_step_has_its_own_folder_environment_arguments_and_log(server, tmp_path):
    body = PRELOADED + (
        "import os\n"
        "print('cwd', os.getcwd())\n"
        "print('env', os.environ['STEP_ONLY'])\n"
        "print('argv', sys.argv[1:])\n"
        "print('path0', sys.path[0])\n"
    )
    run = _step(tmp_path / "a", body, env={"STEP_ONLY": "a"})

    run_script(run, "step A")

    log = _log(run)
    assert "preloaded True" in log
    assert f"cwd {tmp_path / 'a'}" in log
    assert "env a" in log
    assert "argv ['--alpha', '1']" in log
    assert f"path0 {tmp_path / 'a'}" in log


def test_a_forked_step_collects_garbage_as_a_fresh_process_does(server, tmp_path):
    # The server turns the collector off while it imports; a step must not inherit that.
    run = _step(tmp_path / "a", PRELOADED + "import gc\nprint('collecting', gc.isenabled())\n")

    run_script(run, "step A")

    assert _log(run)[-2:] == ["preloaded True", "collecting True"]


def test_what_one_step_changes_does_not_reach_the_next(server, tmp_path):
    first = "import os, json\nos.environ['LEAK'] = '1'\njson.leaked = True\nos.chdir('/')\n"
    second = (
        "import os, json\nprint('env', os.environ.get('LEAK'))\n"
        "print('module', getattr(json, 'leaked', False))\nprint('cwd', os.getcwd())\n"
    )
    run_script(_step(tmp_path / "a", first), "step A")
    run = _step(tmp_path / "b", second)

    run_script(run, "step B")

    assert _log(run)[-3:] == ["env None", "module False", f"cwd {tmp_path / 'b'}"]


def test_exit_status_and_the_scripts_message_are_its_own(server, tmp_path):
    body = PRELOADED + "sys.exit('column x: 3 rows are not numbers')"
    run = _step(tmp_path / "a", body)

    with pytest.raises(StepFailed) as failed:
        run_script(run, "step Prep")

    assert str(failed.value) == "step Prep exited with code 1: column x: 3 rows are not numbers"
    assert "preloaded True" in _log(run)
    with pytest.raises(StepFailed, match=r"exited with code 7: \(it printed nothing"):
        run_script(_step(tmp_path / "b", "import sys\nsys.exit(7)"), "step B")
    with pytest.raises(StepFailed, match=r"exited with code 1: ValueError: bad shape$"):
        run_script(_step(tmp_path / "c", "raise ValueError('bad shape')"), "step C")


def test_a_crash_or_a_timeout_in_one_step_does_not_poison_the_next(server, tmp_path):
    crash = "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"
    with pytest.raises(StepFailed, match=r"exited with code -9"):
        run_script(_step(tmp_path / "a", crash), "step A")
    slow = "import time\ntime.sleep(30)"
    with pytest.raises(StepFailed, match=r"MaxRuntimeInSeconds \(1 s\)"):
        run_script(_step(tmp_path / "b", slow, timeout=1.0), "step B")
    run = _step(tmp_path / "c", PRELOADED + "print('fine')")

    run_script(run, "step C")

    assert _log(run)[-2:] == ["preloaded True", "fine"]


def test_a_step_that_sets_a_load_time_variable_runs_as_a_fresh_process(server, tmp_path):
    run = _step(tmp_path / "a", PRELOADED, env={"OMP_NUM_THREADS": "1"})

    run_script(run, "step A")

    assert "preloaded False" in _log(run)


def test_the_server_can_be_turned_off(monkeypatch, tmp_path):
    monkeypatch.setenv(fork_server.ENV_DISABLE, "0")
    with fork_server.fork_server(None, base_environment()) as started:
        assert started is None
        run = _step(tmp_path / "a", PRELOADED)
        run_script(run, "step A")
    assert "preloaded False" in _log(run)


# Printed by a step: the process it was forked from.
PARENT = "import os\nprint('parent', os.getppid())\n"


def test_the_server_started_early_is_the_one_the_steps_run_in(own_server, tmp_path):
    env = base_environment()
    early = fork_server.start_early(env)
    with fork_server.fork_server(None, env) as server:
        assert server is early
        run = _step(tmp_path / "a", PRELOADED + PARENT)
        run_script(run, "step A")
    assert _log(run)[-2:] == ["preloaded True", f"parent {early.process.pid}"]
    assert early.process.returncode == 0


def test_an_early_server_with_another_environment_is_replaced(own_server, tmp_path):
    env = base_environment()
    early = fork_server.start_early({**env, "OMP_NUM_THREADS": "3"})
    with fork_server.fork_server(None, env) as server:
        assert server is not early and server.env == env
        assert early.process.returncode is not None
        run = _step(tmp_path / "a", PARENT)
        run_script(run, "step A")
    assert _log(run)[-1] == f"parent {server.process.pid}"


def test_turning_the_server_off_stops_the_early_one(own_server, monkeypatch):
    early = fork_server.start_early(base_environment())
    with fork_server.fork_server(False, base_environment()) as server:
        assert server is None
        assert early.process.returncode is not None
    monkeypatch.setenv(fork_server.ENV_DISABLE, "0")
    assert fork_server.start_early(base_environment()) is None


def test_the_command_stops_an_early_server_no_run_adopted(own_server, monkeypatch, capsys):
    from mlops_toolkit.runner import __main__ as command

    spawned: list[fork_server.ForkServer] = []
    real = fork_server.ForkServer
    monkeypatch.setattr(
        fork_server, "ForkServer", lambda env: spawned.append(real(env)) or spawned[-1]
    )

    with pytest.raises(SystemExit):
        command.main(["--help"])

    assert "usage: local-run" in capsys.readouterr().out
    assert len(spawned) == 1 and spawned[0].process.returncode is not None


def test_ctrl_c_before_the_run_exits_130_without_a_traceback(own_server, monkeypatch, capsys):
    from mlops_toolkit.runner import __main__ as command
    from mlops_toolkit.runner import cli

    spawned: list[fork_server.ForkServer] = []
    real = fork_server.ForkServer
    monkeypatch.setattr(
        fork_server, "ForkServer", lambda env: spawned.append(real(env)) or spawned[-1]
    )

    def interrupted(argv):
        raise KeyboardInterrupt  # as Ctrl-C while the pipeline is being built

    monkeypatch.setattr(cli, "main", interrupted)

    assert command.main([]) == 130
    assert capsys.readouterr().err == "Interrupted before the run started.\n"
    assert len(spawned) == 1 and spawned[0].process.returncode is not None


def test_the_command_starts_the_server_before_importing_anything_heavy():
    # What local-run imports before spawning the server delays every step library import.
    probe = (
        "import sys\n"
        "import mlops_toolkit.runner.__main__\n"
        "heavy = ('boto3', 'botocore', 'rich', 'numpy', 'importlib.metadata',\n"
        "         'mlops_toolkit.runner.cli')\n"
        "print(sorted(name for name in heavy if name in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


# ---------------------------------------------------------------- the warm server

# Printed by a step: the session it runs in, whose leader is the server that forked it.
SESSION = "import os\nprint('session', os.getsid(0))\n"


def _warm(env: dict[str, str] | None = None, idle: float = 30) -> fork_server.ForkServer:
    server = fork_server.ForkServer(env or base_environment(), idle=idle)
    assert server.warm
    return server


def _run_in(server: fork_server.ForkServer, run: ScriptRun, label: str = "step") -> list[str]:
    fork_server._active = server
    try:
        run_script(run, label)
    finally:
        fork_server._active = None
    return _log(run)


def _said(log: list[str], word: str) -> str:
    """The step's own line starting with ``word`` (warnings on stderr may follow it)."""
    return next(line for line in log if line.startswith(f"{word} "))


def test_runs_one_after_another_share_one_warm_server_outside_their_session(
    private_runtime, tmp_path
):
    first, second = _warm(), _warm()
    try:
        one = _run_in(first, _step(tmp_path / "a", PRELOADED + SESSION))
        two = _run_in(second, _step(tmp_path / "b", PRELOADED + SESSION))
    finally:
        first.close()
        second.close()

    assert one[-2] == two[-2] == "preloaded True"
    assert one[-1] == two[-1] != f"session {os.getsid(0)}"
    # Later runs find it after the first has ended.
    later = _warm()
    try:
        assert _run_in(later, _step(tmp_path / "c", SESSION))[-1] == one[-1]
    finally:
        later.close()


def test_another_interpreter_setting_gets_a_server_of_its_own(private_runtime, tmp_path):
    env = base_environment()
    plain, threaded = _warm(env), _warm({**env, "OMP_NUM_THREADS": "1"})
    try:
        one = _run_in(plain, _step(tmp_path / "a", SESSION))
        two = _run_in(threaded, _step(tmp_path / "b", SESSION, env={"OMP_NUM_THREADS": "1"}))
    finally:
        plain.close()
        threaded.close()

    assert one[-1] != two[-1]


def test_the_warm_server_learns_the_modules_steps_import_themselves(private_runtime, tmp_path):
    # SciPy loads its subpackages only when asked, and no preloaded library asks for odr.
    pytest.importorskip("scipy")
    probe = "import sys\nprint('odr', 'scipy.odr' in sys.modules)\nimport scipy.odr\n"
    server = _warm()
    try:
        assert _said(_run_in(server, _step(tmp_path / "a", probe)), "odr") == "odr False"
    finally:
        server.close()
    deadline, seen, tries = time.monotonic() + 15, "odr False", 0
    while seen == "odr False" and time.monotonic() < deadline:
        later, tries = _warm(), tries + 1
        try:
            seen = _said(_run_in(later, _step(tmp_path / f"b{tries}", probe)), "odr")
        finally:
            later.close()
        time.sleep(0.2)

    assert seen == "odr True"
    learned = list(private_runtime.glob("fork-*.modules"))
    assert len(learned) == 1 and "scipy.odr" in learned[0].read_text().split()


def test_the_warm_server_leaves_once_idle_and_holds_no_run_secrets(private_runtime, tmp_path):
    env = {**base_environment(), "AWS_SECRET_ACCESS_KEY": "not-for-the-server"}
    server = _warm(env, idle=1)
    try:
        session = int(_run_in(server, _step(tmp_path / "a", SESSION))[-1].split()[1])
        environ = Path(f"/proc/{session}/environ")
        if environ.exists():
            assert b"not-for-the-server" not in environ.read_bytes()
    finally:
        server.close()
    (sock,) = private_runtime.glob("fork-*.sock")
    deadline = time.monotonic() + 10
    while sock.exists() and time.monotonic() < deadline:
        time.sleep(0.1)

    assert not sock.exists()
    assert _gone(session)


def _gone(pid: int) -> bool:
    """The process has ended (reaped here when it was this process's child, as a server spawned
    by this test is)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_a_runtime_folder_others_can_enter_is_not_used(private_runtime, tmp_path):
    private_runtime.mkdir(mode=0o755)
    private_runtime.chmod(0o755)

    server = fork_server.ForkServer(base_environment(), idle=30)
    try:
        assert not server.warm
        assert _run_in(server, _step(tmp_path / "a", PRELOADED))[-1] == "preloaded True"
    finally:
        server.close()
    assert not list(private_runtime.glob("fork-*.sock"))


def test_a_wrong_idle_time_is_named(monkeypatch, private_runtime):
    monkeypatch.setenv(warm_server.ENV_IDLE, "ten minutes")

    with (
        pytest.raises(
            LocalRunError, match=r"MLOPS_TOOLKIT_FORK_SERVER_IDLE='ten minutes': expected"
        ),
        fork_server.fork_server(True, base_environment()),
    ):
        pass


def test_a_step_ready_while_another_runs_in_the_server_starts_beside_it(server, tmp_path):
    """Steps side by side: the server runs one child at a time, so the second step starts as a
    fresh process instead of waiting; each waits for the other to have started, so run one after
    the other the first would give up."""
    meet = tmp_path / "meet"
    meet.mkdir()
    body = PRELOADED + (
        "import pathlib, time\n"
        "me, other = sys.argv[3], sys.argv[4]\n"
        f"meet = pathlib.Path({str(meet)!r})\n"
        "(meet / me).touch()\n"
        "deadline = time.monotonic() + 30\n"
        "while not (meet / other).exists():\n"
        "    if time.monotonic() > deadline:\n"
        "        sys.exit(f'{other} never started while {me} ran')\n"
        "    time.sleep(0.02)\n"
    )
    runs = {}
    for me, other in (("first", "second"), ("second", "first")):
        run = _step(tmp_path / me, body)
        runs[me] = dataclasses.replace(run, command=[*run.command, me, other])
    errors: list[BaseException] = []

    def run_step(name: str) -> None:
        try:
            run_script(runs[name], name)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=run_step, args=(name,)) for name in runs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    preloaded = sorted(_said(_log(run), "preloaded") for run in runs.values())
    # One ran in a child of the server (numpy already there), the other as a fresh process.
    assert preloaded == ["preloaded False", "preloaded True"]
