"""Hyperparameters that train the PyTorch model in about a second on the tests' synthetic data,
with enough epochs for early stopping to matter. The shared fixtures (conftest.py) train with
these."""

FAST_TRAINING = [
    *("--epochs", "200", "--early_stopping_patience", "10"),
    *("--batch_size", "32", "--learning_rate", "0.01"),
]
