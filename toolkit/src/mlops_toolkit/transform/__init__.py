"""``local-transform``: a SageMaker batch transform of a registered model, run on this machine."""
