"""Project settings chosen when the project was generated.

They live in ``project.json`` (written by the template as JSON data, never as code) so that the
pipeline, the CLIs and the tests all read the same values. Edit that file to change a default.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources


@dataclass(frozen=True)
class ProjectSettings:
    project_name: str
    project_slug: str
    description: str
    aws_region: str
    pipeline_name: str
    model_package_group_name: str
    framework: str
    processing_instance_type: str
    training_instance_type: str
    mse_threshold: float
    model_approval_status: str
    owner_team: str
    # A TuningStep over steps/training/hyperparameter_ranges.json instead of one TrainingStep.
    hyperparameter_tuning: bool = False

    @property
    def tags(self) -> list[dict[str, str]]:
        """Tags put on the pipeline (and, through CI/CD, on every other resource)."""
        return [
            {"Key": "project", "Value": self.project_slug},
            {"Key": "owner", "Value": self.owner_team},
        ]


def load_settings() -> ProjectSettings:
    raw = json.loads(resources.files("modelbuild").joinpath("project.json").read_text("utf-8"))
    return ProjectSettings(**raw)
