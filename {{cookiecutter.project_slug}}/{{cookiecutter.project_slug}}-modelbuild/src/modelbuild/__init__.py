"""Model-build package: the SageMaker pipeline, its step scripts and the CLIs that run it."""
