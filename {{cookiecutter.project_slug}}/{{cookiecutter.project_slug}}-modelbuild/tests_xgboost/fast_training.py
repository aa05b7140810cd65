"""Hyperparameters that train the XGBoost model in a second on the tests' synthetic data, with
enough rounds for early stopping to matter. The shared fixtures (conftest.py) train with these."""

FAST_TRAINING = ["--num_round", "80", "--eta", "0.15", "--early_stopping_rounds", "10"]
