"""Create, and later remove, a generated project's AWS resources: ``mlops-bootstrap
bootstrap|teardown|policy`` (also ``python -m mlops_toolkit.bootstrap``).

It works on a model-deploy repository's data, never its code: ``cicd/resources.json`` (written
when the project was generated) names every resource, ``cicd/cicd-stack.yml`` is the CI/CD
CloudFormation template, and ``cicd/bootstrap-policy.json`` the IAM policies ``policy`` prints.
Only boto3, PyYAML and the standard library are imported, so the template's post-generation hook
can run it from the template's own source in the Python that runs cookiecutter.
"""
