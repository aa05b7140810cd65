"""Run SageMaker pipelines, serve registered models and check data drift on one machine.

``local-run`` executes a SageMaker Python SDK v3 pipeline definition step by step (no Docker,
no SageMaker jobs), ``serve-local`` answers the SageMaker runtime's invoke path on loopback with
the inference handler inside a registered model, and ``drift-report`` compares captured requests
with a data-quality baseline as Model Monitor would.
"""


def __getattr__(name: str) -> str:
    # Looked up on demand: importing importlib.metadata would slow down the start of every
    # command (and of local-run's fork server), which import this package first.
    if name != "__version__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mlops-template-toolkit")
    except PackageNotFoundError:  # imported from a source tree that was never installed
        return "0+unknown"
