"""Model Monitor statistics, KLL sketches, drift checks and the drift report (drift-report)."""
