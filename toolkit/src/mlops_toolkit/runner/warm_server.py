"""The fork server kept warm between runs.

Every ``local-run`` pays for importing the step libraries once, about a second of CPU at the
abalone sample's size, more than the steps' own work. A data scientist runs it again and again
while editing a step, so by default the server outlives the run that started it: it listens on a
Unix socket in a folder only this user can enter, each ``local-run`` that finds it connects
instead of spawning one, and it leaves once no run has used it for
``MLOPS_TOOLKIT_FORK_SERVER_IDLE`` seconds (600 by default; ``0`` gives every run a server of its
own that stops with it, as before).

A server serves only runs that would have started an identical one: the socket's name is a
digest of the interpreter, its ``sys.path`` with each entry's modification time (installing or
upgrading a package changes its site-packages folder), the variables libraries read when they
load, and this module's own files. Each connection gets a session: a child of the server that
forks that run's steps, so runs side by side do not wait for each other.

Steps teach the server: a step's child writes down the modules of the preloaded libraries it
imported itself (``sklearn.compose`` by a preprocessing script, say); the server imports them
while it waits for the next run, and a new server with the same key imports them at start.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ENV_IDLE = "MLOPS_TOOLKIT_FORK_SERVER_IDLE"
DEFAULT_IDLE_SECONDS = 600.0
# How long a run waits for a server it spawned to listen before starting one of its own.
SPAWN_WAIT_SECONDS = 10.0
POLL_SECONDS = 0.01
# How often an idle server looks at the clock and at what steps taught it.
TICK_SECONDS = 1.0
INSTALL_FOLDERS = frozenset({"site-packages", "dist-packages"})


def idle_seconds() -> float:
    text = os.environ.get(ENV_IDLE, "").strip()
    if not text:
        return DEFAULT_IDLE_SECONDS
    try:
        value = float(text)
    except ValueError:
        raise ValueError(
            f"{ENV_IDLE}={text!r}: expected a number of seconds (0 stops the fork server with "
            "each run)"
        ) from None
    return max(value, 0.0)


def runtime_dir() -> Path | None:
    """This user's private folder for servers' sockets, or None when it cannot be trusted (not
    ours, a link, or open to others): a socket there runs any script it is sent."""
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    folder = Path(base) / f"mlops-toolkit-{os.getuid()}"
    with contextlib.suppress(FileExistsError):
        folder.mkdir(mode=0o700)
    try:
        info = os.lstat(folder)
    except OSError:
        return None
    private = stat.S_ISDIR(info.st_mode) and not info.st_mode & 0o077
    return folder if private and info.st_uid == os.getuid() else None


def _mtime(path: str) -> int | None:
    try:
        return os.stat(path or ".").st_mtime_ns
    except OSError:
        return None


def _installed_at(entry: str) -> int | None:
    """When packages were last installed into or removed from ``entry``, for the folders pip
    installs into (their modification time moves with every install); None for other folders,
    whose files change as the user works (step code is never preloaded)."""
    return _mtime(entry) if Path(entry).name in INSTALL_FOLDERS else None


def server_key(load_time: dict[str, str]) -> str:
    """What makes two servers interchangeable (see the module's docstring)."""
    own_files = sorted(str(p) for p in Path(__file__).parent.glob("*_server.py"))
    # sys.path[0] is the folder of whatever started this run (a script's, or the working
    # folder): it says nothing about the libraries a server holds.
    described = {
        "python": [sys.executable, sys.version],
        "path": [
            [entry, _installed_at(entry)] for entry in sys.path[0 if sys.flags.safe_path else 1 :]
        ],
        "load_time": sorted(load_time.items()),
        "own": [[name, _mtime(name)] for name in own_files],
    }
    return hashlib.sha256(json.dumps(described).encode()).hexdigest()[:20]


class Paths:
    def __init__(self, folder: Path, key: str) -> None:
        self.socket = folder / f"fork-{key}.sock"
        self.lock = folder / f"fork-{key}.lock"
        self.learned = folder / f"fork-{key}.modules"
        self.log = folder / f"fork-{key}.log"


def connect(path: Path) -> socket.socket | None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(path))
    except OSError:
        sock.close()
        return None
    return sock


def spawn(paths: Paths, idle: float, env: dict[str, str]) -> subprocess.Popen:
    """Start a server in a session of its own (Ctrl-C in this terminal and the end of this run
    leave it alone), with no handle on this run's output: whoever waits for the run's output to
    close must not wait for the server too."""
    command = [
        sys.executable,
        "-c",
        "from mlops_toolkit.runner.warm_server import serve_warm; "
        f"serve_warm({str(paths.socket)!r}, {idle!r})",
    ]
    with paths.log.open("ab") as log:
        return subprocess.Popen(
            command,
            cwd="/",
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )


def connect_or_spawn(paths: Paths, idle: float, env: dict[str, str]) -> socket.socket | None:
    """A connection to the warm server, starting it first if none listens; None if none could
    be reached (the caller then starts a server of its own)."""
    sock = connect(paths.socket)
    if sock is not None:
        return sock
    process = spawn(paths, idle, env)
    deadline = time.monotonic() + SPAWN_WAIT_SECONDS
    while time.monotonic() < deadline:
        sock = connect(paths.socket)
        if sock is not None:
            return sock
        # It exits at once when another run's server holds the lock; that one is about to listen.
        if process.poll() not in (None, 0):
            return None
        time.sleep(POLL_SECONDS)
    return None


# ---------------------------------------------------------------- the server side


def learned_modules(learn_file: str | None) -> list[str]:
    """What steps noted in ``learn_file`` (none when there is no such file)."""
    if learn_file is None:
        return []
    try:
        text = Path(learn_file).read_text(encoding="utf-8")
    except OSError:
        return []
    return sorted({line.strip() for line in text.splitlines() if line.strip()})


def serve_warm(socket_path: str, idle: float) -> None:
    """Listen, preload, then give each connection a session until idle for ``idle`` seconds."""
    from mlops_toolkit.runner import fork_server

    paths = Paths(Path(socket_path).parent, Path(socket_path).stem.removeprefix("fork-"))
    lock = os.open(paths.lock, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        if error.errno in (errno.EAGAIN, errno.EACCES):
            os._exit(0)  # another run's server has this key
        raise
    with contextlib.suppress(FileNotFoundError):
        paths.socket.unlink()  # left by a server that was killed
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(paths.socket))
    listener.listen(16)
    identity = os.stat(paths.socket).st_ino
    # Runs connect as soon as it listens; their first step waits for these imports.
    fork_server.preload(extra=learned_modules(str(paths.learned)))
    fork_server.LEARN_FILE = str(paths.learned)
    listener.settimeout(TICK_SECONDS)
    sessions: set[int] = set()
    last_busy = time.monotonic()
    learned_at = _mtime(str(paths.learned))
    while True:
        try:
            connection, _ = listener.accept()
        except TimeoutError:
            connection = None
        if connection is not None:
            sessions.add(_start_session(listener, lock, connection))
        sessions = {pid for pid in sessions if not _reaped(pid)}
        if sessions:
            last_busy = time.monotonic()
        elif time.monotonic() - last_busy >= idle:
            break
        # Sessions already forked keep what they have; the runs after them get these.
        noted_at = _mtime(str(paths.learned))
        if noted_at != learned_at:
            learned_at = noted_at
            fork_server.import_learned(learned_modules(str(paths.learned)))
    listener.close()
    # A newer server may have replaced the socket after this one's lock was lost; leave theirs.
    with contextlib.suppress(OSError):
        if os.stat(paths.socket).st_ino == identity:
            paths.socket.unlink()
    os._exit(0)


def _start_session(listener: socket.socket, lock: int, connection: socket.socket) -> int:
    from mlops_toolkit.runner import fork_server

    connection.setblocking(True)
    pid = os.fork()
    if pid == 0:
        # The lock is the server's alone: a session (or a step) holding it would keep a new
        # server from starting once this one has left.
        os.close(lock)
        listener.close()
        fork_server.serve_session(connection)  # never returns
    connection.close()
    return pid


def _reaped(pid: int) -> bool:
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return done == pid
