"""Helpers for the mlops-template Cookiecutter template itself (not rendered into projects).

The hooks and later tooling (bootstrap, teardown) import from here, so AWS resource names and the
rules for the template's answers are defined once.
"""
