"""Hyperparameters that train the scikit-learn model in well under a second on the tests'
synthetic data, with enough iterations for early stopping to matter. The shared fixtures
(conftest.py) train with these."""

FAST_TRAINING = [
    *("--max_iter", "80", "--learning_rate", "0.15", "--n_iter_no_change", "10"),
    *("--max_leaf_nodes", "15", "--min_samples_leaf", "5"),
]
