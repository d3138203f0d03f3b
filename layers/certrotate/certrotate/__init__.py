"""certrotate: rotates IAM server certificates through ACME and repoints the load balancers serving them."""

# The one version: pyproject reads it (setuptools dynamic version), the template's SAR SemanticVersion and
# Version output repeat it, and tests/unit/project/test_version.py fails when any of them disagree.
__version__ = "0.3.0"
# How certrotate names itself to AWS (botocore's user agent) and to the ACME CA.
USER_AGENT = f"certrotate/{__version__}"
