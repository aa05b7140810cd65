"""The XGBoost images the pipeline trains, evaluates and serves with (framework.json)."""

from __future__ import annotations

import dataclasses

from aws_stand_in import REGION

from modelbuild.pipeline import framework_images
from modelbuild.settings import load_settings


def test_one_xgboost_image_trains_evaluates_and_serves() -> None:
    images = framework_images(load_settings(), REGION)
    assert images.training.endswith(f".dkr.ecr.{REGION}.amazonaws.com/sagemaker-xgboost:3.2-0")
    assert images.evaluation == images.serving == images.training


def test_the_image_is_the_same_on_gpu_instances() -> None:
    settings = dataclasses.replace(load_settings(), training_instance_type="ml.g5.xlarge")
    assert framework_images(settings, REGION).training.endswith("/sagemaker-xgboost:3.2-0")
