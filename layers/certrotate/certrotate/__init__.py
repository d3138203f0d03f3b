"""certrotate: rotates IAM server certificates through ACME and repoints the load balancers serving them."""

__version__ = "0.1.0"
