"""Turn AWS and git exceptions raised inside one step into a StepFailed naming that step."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from mlops_toolkit.bootstrap.errors import NoCredentials, StepFailed, describe_aws_error
from mlops_toolkit.bootstrap.gitrepo import GitError

T = TypeVar("T")


def guarded(kind: str, name: str, action: Callable[[], T]) -> T:
    """Run ``action``; re-raise any expected failure as one naming ``kind`` ``name``."""
    try:
        return action()
    except NoCredentialsError:
        raise NoCredentials("no AWS credentials were found") from None
    except (ClientError, BotoCoreError) as error:
        raise StepFailed(kind, name, describe_aws_error(error)) from None
    except GitError as error:
        raise StepFailed(kind, name, str(error)) from None
