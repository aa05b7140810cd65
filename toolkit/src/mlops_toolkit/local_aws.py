"""AWS for the commands: the one configured, else a stand-in started for the command's lifetime.

With neither ``AWS_ENDPOINT_URL`` nor credentials configured, a command starts the moto stand-in
itself, puts back what earlier runs left in the project's local folder (``stand_in_state``), and
stops it when done; a command that changes AWS (local-run) saves the state again first.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import boto3

from mlops_toolkit import stand_in_state
from mlops_toolkit.cli_support import CliError
from mlops_toolkit.stand_in import (
    DEFAULT_BUCKET,
    DEFAULT_REGION,
    DEFAULT_ROLE,
    EmbeddedAws,
    Provisioned,
)


def aws_configured() -> bool:
    if os.environ.get("AWS_ENDPOINT_URL"):
        return True
    return boto3.Session().get_credentials() is not None


@contextmanager
def stand_in_unless_configured(
    region: str | None,
    state_dir: Path,
    say: Callable[[str], None],
    *,
    keep: bool,
    wanted: bool | None = None,
) -> Iterator[Provisioned | None]:
    """None while the configured AWS is used; the stand-in's bucket and role otherwise.

    ``wanted`` forces the choice (True: a stand-in even with AWS configured; False: never).
    """
    if wanted is False or (wanted is None and aws_configured()):
        yield None
        return
    with EmbeddedAws(region or DEFAULT_REGION, DEFAULT_BUCKET, DEFAULT_ROLE) as aws:
        # moto keeps resources per process, across servers: only the saved state may be there.
        aws.reset()
        provisioned = aws.provision()
        try:
            restored = stand_in_state.restore(aws.session(), state_dir)
        except ValueError as error:
            raise CliError(str(error)) from None
        say(
            f"No AWS configured: started a local AWS stand-in at {aws.endpoint_url} "
            f"({restored} model version(s) restored from {state_dir})."
        )
        try:
            yield provisioned
        finally:
            if keep:
                state_dir.mkdir(parents=True, exist_ok=True)
                stand_in_state.save(aws.session(), state_dir)
                say(f"Stand-in stopped; its resources are kept in {state_dir}.")
