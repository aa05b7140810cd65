"""Create, and later remove, this project's AWS resources: ``python -m cicd bootstrap|teardown``.

Run from the model-deploy repository's root. Everything the commands need arrives as data:
``cicd/resources.json`` (written when the project was generated) names every resource, and
``cicd/cicd-stack.yml`` is the CI/CD CloudFormation template.
"""
