"""Where certificates are kept: one port for the pipeline, one module per store, each store's own rules."""
