"""Benchmarks of certrotate on the local stack, against certbot on the same stack (`python -m benchmarks`).

Kept import-light on purpose: `benchmarks.worker` and `benchmarks.probe` run in fresh interpreters whose
import times are part of what is measured, so nothing here may pull in boto3, moto or the layer.
"""
