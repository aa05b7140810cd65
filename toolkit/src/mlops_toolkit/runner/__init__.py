"""Execute a pipeline definition locally: the runner, its step executors, and local-run."""
