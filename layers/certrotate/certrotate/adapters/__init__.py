"""One adapter per outside system. Each turns boto3 or ACME into the ports the use cases need."""
