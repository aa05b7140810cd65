"""The scikit-learn images the pipeline trains, evaluates and serves with (framework.json)."""

from __future__ import annotations

from aws_stand_in import REGION

from modelbuild.pipeline import framework_images
from modelbuild.settings import load_settings


def test_the_scikit_learn_image_trains_evaluates_and_serves() -> None:
    images = framework_images(load_settings(), REGION)
    assert images.training.endswith(
        f".dkr.ecr.{REGION}.amazonaws.com/sagemaker-scikit-learn:1.9-0-cpu-py3"
    )
    assert images.evaluation == images.serving == images.training
