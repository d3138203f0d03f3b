"""List every store, decide, enqueue; finish pending retirements; the hourly renewal-info re-check."""
