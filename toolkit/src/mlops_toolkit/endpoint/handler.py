"""Load the inference handler shipped inside a model artifact and call it the way SageMaker's
framework containers do: ``model_fn`` once, then ``input_fn`` → ``predict_fn`` → ``output_fn``
per request."""

from __future__ import annotations

import importlib.util
import sys
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

from mlops_toolkit.endpoint.model_source import container_to_local
from mlops_toolkit.errors import LocalRunError

REQUIRED_FUNCTIONS = ("model_fn", "input_fn", "predict_fn", "output_fn")
DEFAULT_PROGRAM = "inference.py"
DEFAULT_SUBMIT_DIRECTORY = "/opt/ml/model/code"


def client_error_status(error: BaseException) -> int | None:
    """The 4xx a handler error asks for (``status_code`` on the exception), else None."""
    status = getattr(error, "status_code", None)
    if isinstance(status, int) and 400 <= status < 500:
        return status
    return None


def _load_module(script: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"local_inference_{uuid.uuid4().hex}", script)
    if spec is None or spec.loader is None:
        raise LocalRunError(f"cannot load {script} as a Python module")
    module = importlib.util.module_from_spec(spec)
    # Another artifact's helper modules (model_io) may be cached under the same names: drop them
    # so this script imports the ones shipped beside it.
    for sibling in script.parent.glob("*.py"):
        sys.modules.pop(sibling.stem, None)
    # Registered before it runs: dataclasses and pickling look modules up by name.
    sys.modules[spec.name] = module
    # The containers put the code directory on sys.path, so helper modules beside it import.
    sys.path.insert(0, str(script.parent))
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[spec.name]
        raise
    finally:
        sys.path.remove(str(script.parent))
    return module


class InferenceHandler:
    def __init__(self, model_dir: Path, environment: dict[str, str] | None = None) -> None:
        environment = environment or {}
        program = environment.get("SAGEMAKER_PROGRAM", DEFAULT_PROGRAM)
        code_dir = container_to_local(
            environment.get("SAGEMAKER_SUBMIT_DIRECTORY", DEFAULT_SUBMIT_DIRECTORY), model_dir
        )
        script = code_dir / program
        if not script.is_file():
            raise LocalRunError(f"the model artifact has no inference script at {script}")
        self.module = _load_module(script)
        missing = [name for name in REQUIRED_FUNCTIONS if not hasattr(self.module, name)]
        if missing:
            raise LocalRunError(f"{script} does not define {', '.join(missing)}")
        self.script = script
        self.model = self.module.model_fn(str(model_dir))

    def invoke(
        self, body: bytes, content_type: str | None, accept: str | None
    ) -> tuple[bytes, str]:
        data = self.module.input_fn(body, content_type)
        prediction = self.module.predict_fn(data, self.model)
        result: Any = self.module.output_fn(prediction, accept)
        payload, media = result if isinstance(result, tuple) else (result, accept or content_type)
        if isinstance(payload, str):
            payload = payload.encode("utf-8")
        return bytes(payload), str(media or "application/octet-stream")
