"""IAM contract tests' machinery: a real policy evaluator, the roles a rendered stack defines, and
the requests each role's work makes. See docs/iam-contract.md."""
