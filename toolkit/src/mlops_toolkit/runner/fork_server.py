"""A fork server for step scripts: one process, started when local-run starts, imports the
libraries step scripts use (numpy, pandas, scikit-learn, XGBoost: whichever are installed) while
the pipeline is being built; each Python step then runs in a child forked from it. The
``local-run`` command spawns it before importing anything of its own (``start_early``), so those
imports overlap with its own start-up; ``fork_server`` then adopts it.

The child is as isolated as a fresh ``python script.py`` would be: its own process, working
folder, environment (``os.environ`` replaced whole), ``sys.argv`` and ``sys.path[0]``, stdout in
the step's log and stderr on a pipe the runner reads, its own exit status, and a kill when it
runs past its timeout. What it saves is the second or two each step spends importing those
libraries and tearing the interpreter down again (the child leaves with ``os._exit`` after
running the script's ``atexit`` handlers and flushing its output).

Libraries read some variables once, when they load (OpenMP's ``OMP_*``, the BLAS thread counts,
``PYTHON*``). A step whose environment gives one of those a different value than the server has
runs as a fresh process instead (see ``can_run``), so it sees exactly what it asked for.

By default the server outlives the run and later runs reuse it (see ``warm_server``); with
``MLOPS_TOOLKIT_FORK_SERVER_IDLE=0`` each run has one of its own, over a socket pair.

Protocol, over a Unix socket: the runner sends a length-prefixed JSON request with two file
descriptors attached (stdout, stderr); the server answers ``{"pid": n}`` once the child is
forked and ``{"status": code}`` once it has been reaped. One step at a time per server: a step
that becomes ready while another runs in a child (steps run side by side as in SageMaker) starts
as a fresh process instead of waiting.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import importlib
import importlib.util
import json
import os
import runpy
import signal
import socket
import struct
import subprocess
import sys
import threading
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mlops_toolkit.errors import LocalRunError
from mlops_toolkit.runner import warm_server

# Imported by the server before it forks. Only those installed are imported; the list is the
# step libraries of the frameworks the template generates (torch stays out: large, and its
# threads do not survive a fork).
PRELOAD = ("numpy", "pandas", "scipy", "sklearn", "xgboost")
# Read when a library loads, so a child of the server cannot change them.
LOAD_TIME_PREFIXES = ("OMP_", "GOMP_", "KMP_", "MKL_", "OPENBLAS_", "BLIS_", "PYTHON")
# PYTHONUNBUFFERED only matters at start-up, and a forked child flushes on every write anyway.
LOAD_TIME_EXEMPT = frozenset({"PYTHONUNBUFFERED"})
ENV_DISABLE = "MLOPS_TOOLKIT_FORK_SERVER"
# What a warm server keeps from the environment of the run that spawned it, besides the
# load-time variables: it holds no run's credentials (each step gets its own environment whole).
SERVER_ENV_KEEP = ("PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "LC_CTYPE")
_HEADER = struct.Struct("!I")
_KILL_SIGNAL = getattr(signal, "SIGKILL", signal.SIGTERM)


def load_time_variables(env: dict[str, str]) -> dict[str, str]:
    return {
        name: value
        for name, value in env.items()
        if name.startswith(LOAD_TIME_PREFIXES) and name not in LOAD_TIME_EXEMPT
    }


def _send(sock: socket.socket, message: dict[str, Any], fds: list[int] | None = None) -> None:
    body = json.dumps(message).encode("utf-8")
    header = _HEADER.pack(len(body))
    if fds:
        socket.send_fds(sock, [header], fds)
    else:
        sock.sendall(header)
    sock.sendall(body)


def _receive_exactly(sock: socket.socket, size: int) -> bytes:
    chunks, remaining = [], size
    while remaining:
        chunk = sock.recv(remaining)
        if not chunk:
            raise EOFError("the fork server closed its socket")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _receive(sock: socket.socket, max_fds: int = 0) -> tuple[dict[str, Any], list[int]]:
    if max_fds:
        header, fds, _, _ = socket.recv_fds(sock, _HEADER.size, max_fds)
        if not header:
            raise EOFError("the fork server closed its socket")
        if len(header) < _HEADER.size:
            header += _receive_exactly(sock, _HEADER.size - len(header))
    else:
        header, fds = _receive_exactly(sock, _HEADER.size), []
    (size,) = _HEADER.unpack(header)
    return json.loads(_receive_exactly(sock, size).decode("utf-8")), list(fds)


# ---------------------------------------------------------------- the server side


def _exit_code(stop: SystemExit) -> int:
    """What ``python script.py`` exits with for this SystemExit."""
    if stop.code is None:
        return 0
    if isinstance(stop.code, int):
        return stop.code
    print(stop.code, file=sys.stderr)
    return 1


def _run_child(request: dict[str, Any], stdout_fd: int, stderr_fd: int) -> int:
    os.dup2(stdout_fd, 1)
    os.dup2(stderr_fd, 2)
    os.close(stdout_fd)
    os.close(stderr_fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    script = request["argv"][0]
    sys.argv = list(request["argv"])
    sys.path[0] = str(Path(script).resolve().parent)
    # Line-buffered, as PYTHONUNBUFFERED asks: the log shows progress while the step runs.
    sys.stdout = open(1, "w", encoding="utf-8", errors="backslashreplace", closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", encoding="utf-8", errors="backslashreplace", closefd=False)  # noqa: SIM115
    sys.stdout.reconfigure(line_buffering=True)
    sys.stderr.reconfigure(line_buffering=True)
    try:
        runpy.run_path(script, run_name="__main__")
        code = 0
    except SystemExit as stop:
        code = _exit_code(stop)
    except BaseException:  # noqa: BLE001 - report it as the interpreter would, then exit 1
        traceback.print_exc()
        code = 1
    atexit._run_exitfuncs()
    _note_learned()
    sys.stdout.flush()
    sys.stderr.flush()
    return code


def _wait_status(pid: int) -> int:
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


# Set in the server: where a step's child notes the modules it imported itself, the top-level
# names of the preloaded libraries, and every module imported (or tried) before forking.
LEARN_FILE: str | None = None
_families: set[str] = set()
_known: set[str] = set()


def import_quietly(names: list[str]) -> None:
    """Import what is importable of ``names`` without letting the collector scan as it goes."""
    # Importing creates objects by the hundred thousand and no garbage worth collecting: without
    # the collector's passes over them these imports take about 7 % less CPU, on the first
    # step's path.
    gc.disable()
    for name in names:
        with contextlib.suppress(Exception):
            importlib.import_module(name)
    # Children never collect (nor write to the headers of) what was imported here: their
    # collections stay short and those pages stay shared with the server.
    gc.freeze()
    gc.enable()
    _known.update(names, sys.modules)


def import_learned(names: list[str]) -> None:
    """Import the modules steps noted that belong to the preloaded libraries and were not
    imported (or tried) before."""
    new = [name for name in names if name.partition(".")[0] in _families and name not in _known]
    if new:
        import_quietly(new)


def preload(extra: list[str] = ()) -> None:
    """Import the installed step libraries, then the ``extra`` modules steps noted."""
    # Ctrl-C reaches the whole process group: the runner handles it and closes the socket.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _families.update(name for name in PRELOAD if importlib.util.find_spec(name) is not None)
    import_quietly(list(PRELOAD))
    import_learned(extra)


def _note_learned() -> None:
    """In a step's child: append the preloaded libraries' modules this step imported itself."""
    if LEARN_FILE is None:
        return
    new = sorted(n for n in sys.modules if n.partition(".")[0] in _families and n not in _known)
    if new:
        with contextlib.suppress(OSError), open(LEARN_FILE, "a", encoding="utf-8") as handle:
            handle.write("".join(f"{name}\n" for name in new))


def serve(fd: int, learn_file: str | None = None) -> None:
    """A server of one run's own: preload, then serve that run until it closes the socket."""
    global LEARN_FILE
    preload(extra=warm_server.learned_modules(learn_file))
    LEARN_FILE = learn_file
    serve_session(socket.socket(fileno=fd))


def serve_session(sock: socket.socket) -> None:
    """Fork one child per request until the runner closes the socket; never returns."""
    while True:
        try:
            request, fds = _receive(sock, max_fds=2)
        except (EOFError, OSError):
            # The runner is done. There is nothing to clean up, and tearing the preloaded
            # libraries down would cost the run a good part of what importing them did.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)
        stdout_fd, stderr_fd = fds
        pid = os.fork()
        if pid == 0:
            sock.close()
            signal.signal(signal.SIGINT, signal.default_int_handler)
            code = 1
            try:
                code = _run_child(request, stdout_fd, stderr_fd)
            finally:
                os._exit(code & 0xFF if code >= 0 else 1)
        os.close(stdout_fd)
        os.close(stderr_fd)
        _send(sock, {"pid": pid})
        _send(sock, {"status": _wait_status(pid)})


# ---------------------------------------------------------------- the runner side


class ForkedStep:
    """A step running in a child of the server; waits and kills like ``subprocess.Popen``."""

    def __init__(self, client: ForkServer, pid: int) -> None:
        self._client, self.pid, self.returncode = client, pid, None
        self._released = False

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            self._client.sock.settimeout(timeout)
            try:
                reply, _ = _receive(self._client.sock)
            except TimeoutError:
                raise subprocess.TimeoutExpired(str(self.pid), timeout or 0.0) from None
            except (EOFError, OSError):
                # The server is gone mid-step: later steps start as fresh processes.
                self._client.broken = True
                self._release()
                raise
            finally:
                self._client.sock.settimeout(None)
            self.returncode = int(reply["status"])
            self._release()
        return self.returncode

    def _release(self) -> None:
        if not self._released:
            self._released = True
            self._client.release()

    def kill(self) -> None:
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, _KILL_SIGNAL)


class ForkServer:
    """The runner's end: a session of the warm server, or (idle time 0, or no private folder
    for its socket) a server of this run's own, ``process``."""

    def __init__(self, env: dict[str, str], idle: float | None = None) -> None:
        self.env = dict(env)
        # Held from a step's request until its exit status is read: one step at a time.
        self._busy = threading.Lock()
        self.broken = False
        self.process: subprocess.Popen | None = None
        idle = warm_server.idle_seconds() if idle is None else idle
        folder = warm_server.runtime_dir()
        paths = None
        if folder is not None:
            paths = warm_server.Paths(folder, warm_server.server_key(load_time_variables(env)))
        if paths is not None and idle > 0:
            sock = warm_server.connect_or_spawn(paths, idle, server_environment(self.env))
            if sock is not None:
                self.sock = sock
                return
        self.sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        learn_file = str(paths.learned) if paths is not None else None
        command = [
            sys.executable,
            "-c",
            "from mlops_toolkit.runner.fork_server import serve; "
            f"serve({theirs.fileno()}, {learn_file!r})",
        ]
        self.process = subprocess.Popen(
            command, pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, env=self.env
        )
        theirs.close()

    @property
    def warm(self) -> bool:
        return self.process is None

    def can_run(self, command: list[str], env: dict[str, str]) -> bool:
        """A Python script with this interpreter, and nothing the preloaded libraries read at
        load time set differently from the server's own environment."""
        if self.broken or len(command) < 2 or command[0] != sys.executable:
            return False
        if not command[1].endswith(".py") or not Path(command[1]).is_file():
            return False
        return load_time_variables(env) == load_time_variables(self.env)

    def start(self, command: list[str], cwd: Path, env: dict[str, str], stdout, stderr_fd: int):
        """Fork the step; None when the server is gone or busy with another step (the caller
        starts a process instead)."""
        if not self._busy.acquire(blocking=False):
            return None
        request = {"argv": command[1:], "cwd": str(cwd), "env": env}
        try:
            _send(self.sock, request, [stdout.fileno(), stderr_fd])
            reply, _ = _receive(self.sock)
        except (EOFError, OSError):
            self.broken = True
            self._busy.release()
            return None
        return ForkedStep(self, int(reply["pid"]))

    def release(self) -> None:
        """The running step's status was read (or never will be): the next may start."""
        self._busy.release()

    def close(self) -> None:
        """End this run's session (a warm server then waits for the next run)."""
        self.sock.close()
        if self.process is None:
            return
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.discard()

    def discard(self) -> None:
        """Stop a server of this run's own no step has used, without waiting for its imports
        to finish (a warm server stays for the next run)."""
        self.sock.close()
        if self.process is not None:
            self.process.kill()
            self.process.wait()


def server_environment(env: dict[str, str]) -> dict[str, str]:
    kept = {name: env[name] for name in SERVER_ENV_KEEP if name in env}
    return {**kept, **load_time_variables(env)}


_active: ForkServer | None = None
_early: ForkServer | None = None


def active() -> ForkServer | None:
    return _active


def enabled(wanted: bool | None) -> bool:
    if wanted is not None:
        return wanted
    return hasattr(os, "fork") and os.environ.get(ENV_DISABLE, "1") != "0"


def start_early(env: dict[str, str]) -> ForkServer | None:
    """Spawn the server now, unless the environment turns it off; ``fork_server`` adopts it when
    its arguments allow, and ``discard_early`` stops it when nothing did."""
    global _early
    if _early is None and enabled(None):
        # A wrong MLOPS_TOOLKIT_FORK_SERVER_IDLE is reported by fork_server, inside the command.
        with contextlib.suppress(ValueError):
            _early = ForkServer(env)
    return _early


def discard_early() -> None:
    global _early
    if _early is not None:
        _early.discard()
        _early = None


def _adopt_early(env: dict[str, str]) -> ForkServer | None:
    """The early server if it was started with exactly ``env`` (else it is stopped)."""
    global _early
    server, _early = _early, None
    if server is not None and server.env != env:
        server.discard()
        return None
    return server


@contextlib.contextmanager
def fork_server(wanted: bool | None, env: dict[str, str]) -> Iterator[ForkServer | None]:
    """Start the server (unless turned off) with ``env``, the environment steps start from, for
    the steps run inside the block; one ``start_early`` spawned with that environment is used
    instead of a new one."""
    global _active
    if not enabled(wanted) or not hasattr(os, "fork"):
        discard_early()
        yield None
        return
    try:
        server = _adopt_early(env) or ForkServer(env)
    except ValueError as error:
        raise LocalRunError(str(error)) from None
    _active = server
    try:
        yield server
    finally:
        _active = None
        server.close()
