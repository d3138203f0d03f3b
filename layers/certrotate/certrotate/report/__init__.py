"""What a run says: results, event details, metrics, and what endpoints really serve over TLS."""
