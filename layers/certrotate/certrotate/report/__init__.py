"""What a run says: results, metrics, and what endpoints really serve over TLS."""
