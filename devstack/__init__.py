"""The local test stack: a moto server made faithful where certrotate depends on it, fault injection,
a DNS server fed from Route 53, and pebble as a real ACME CA. Used by tests, `make demo` and benchmarks."""
