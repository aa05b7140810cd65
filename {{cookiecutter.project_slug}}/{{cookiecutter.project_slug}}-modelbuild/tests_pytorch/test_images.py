"""The PyTorch images the pipeline trains, evaluates and serves with (framework.json).

The SDK knows newer training images (2.10) than serving images (2.6); the model is saved as a
state_dict, which both read.
"""

from __future__ import annotations

import dataclasses

from aws_stand_in import REGION

from modelbuild.pipeline import framework_images
from modelbuild.settings import load_settings

REGISTRY = f".dkr.ecr.{REGION}.amazonaws.com"


def test_cpu_instances_get_the_cpu_images() -> None:
    images = framework_images(load_settings(), REGION)
    assert images.training.endswith(f"{REGISTRY}/pytorch-training:2.10.0-cpu-py313")
    assert images.evaluation == images.training
    assert images.serving.endswith(f"{REGISTRY}/pytorch-inference:2.6.0-cpu-py312")


def test_a_gpu_training_instance_gets_the_gpu_training_image_only() -> None:
    settings = dataclasses.replace(load_settings(), training_instance_type="ml.g5.xlarge")
    images = framework_images(settings, REGION)
    assert images.training.endswith("/pytorch-training:2.10.0-gpu-py313")
    # Evaluation runs on the (CPU) processing instance, serving on ml.m5.large.
    assert images.evaluation.endswith("/pytorch-training:2.10.0-cpu-py313")
    assert images.serving.endswith("/pytorch-inference:2.6.0-cpu-py312")
