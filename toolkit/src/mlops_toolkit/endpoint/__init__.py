"""Serve a registered model version on loopback as a SageMaker endpoint would (serve-local)."""
