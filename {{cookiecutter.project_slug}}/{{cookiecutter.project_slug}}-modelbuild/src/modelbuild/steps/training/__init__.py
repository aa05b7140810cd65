"""Training code uploaded as one source directory: train.py, inference.py, hyperparameters.json."""
