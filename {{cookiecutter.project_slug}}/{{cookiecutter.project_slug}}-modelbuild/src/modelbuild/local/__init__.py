"""Run the pipeline on this machine, from the definition the SDK generates, and serve its model.

``local-run`` executes the pipeline definition step by step (no Docker, no SageMaker jobs) against
whatever AWS ``AWS_ENDPOINT_URL`` points at; ``serve-local`` answers the SageMaker runtime's
invoke path on loopback with the inference handler packed inside a registered model.
"""
