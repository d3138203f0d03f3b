"""Where the old certificate is served, and moving each endpoint to the replacement (read back)."""
