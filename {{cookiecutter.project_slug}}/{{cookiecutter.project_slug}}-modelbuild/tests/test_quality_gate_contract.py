"""The quality gate reads what evaluate.py really writes.

The condition's JSON path, the property file's name and the evaluation output's local directory all
come from the generated definition; evaluate.py runs for real on a trained model. Renaming the
metric in one place without the other fails here, not in a 20-minute cloud run.
"""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

from modelbuild.definition import step_graph
from modelbuild.steps import evaluate

PROCESSING_ROOT = "/opt/ml/processing"


def _resolve(document: dict, dotted_path: str) -> object:
    value: object = document
    for key in dotted_path.split("."):
        assert isinstance(value, dict) and key in value, f"{dotted_path!r} stops at {key!r}"
        value = value[key]
    return value


def _gate_reads(definition: dict) -> tuple[str, str, str]:
    """(step name, property file name, JSON path) that the condition reads."""
    gate = next(node for node in step_graph(definition).values() if node.type == "Condition")
    [condition] = gate.raw["Arguments"]["Conditions"]
    json_get = condition["LeftValue"]["Std:JsonGet"]
    _, step_name, _, property_file = json_get["PropertyFile"]["Get"].split(".")
    return step_name, property_file, json_get["Path"]


def _evaluation_file_location(definition: dict, step_name: str, property_file: str) -> str:
    """Where, relative to the processing root, the step writes the property file."""
    step = step_graph(definition)[step_name].raw
    [declared] = [p for p in step["PropertyFiles"] if p["PropertyFileName"] == property_file]
    [output] = [
        o
        for o in step["Arguments"]["ProcessingOutputConfig"]["Outputs"]
        if o["OutputName"] == declared["OutputName"]
    ]
    local_dir = output["S3Output"]["LocalPath"]
    assert local_dir.startswith(PROCESSING_ROOT + "/")
    return f"{local_dir.removeprefix(PROCESSING_ROOT + '/')}/{declared['FilePath']}"


def test_gate_path_resolves_to_a_number_in_evaluate_output(
    definition, tmp_path: Path, model_dir: Path, preprocessed_dir: Path
):
    step_name, property_file, json_path = _gate_reads(definition)
    (tmp_path / "model").mkdir()
    with tarfile.open(tmp_path / "model" / "model.tar.gz", "w:gz") as archive:
        archive.add(model_dir, arcname=".")
    (tmp_path / "test").mkdir()
    (tmp_path / "test" / "test.csv").write_bytes(
        (preprocessed_dir / "test" / "test.csv").read_bytes()
    )

    assert evaluate.main(["--base-dir", str(tmp_path)]) == 0

    report_path = tmp_path / _evaluation_file_location(definition, step_name, property_file)
    value = _resolve(json.loads(report_path.read_text()), json_path)
    assert isinstance(value, float) and value > 0
