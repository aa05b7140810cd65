"""Run SageMaker pipelines, serve registered models and check data drift on one machine.

``local-run`` executes a SageMaker Python SDK v3 pipeline definition step by step (no Docker,
no SageMaker jobs), ``serve-local`` answers the SageMaker runtime's invoke path on loopback with
the inference handler inside a registered model, and ``drift-report`` compares captured requests
with a data-quality baseline as Model Monitor would.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("mlops-template-toolkit")
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"
