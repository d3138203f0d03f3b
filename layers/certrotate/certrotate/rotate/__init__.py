"""One certificate of any store, from decision to retirement, safe to rerun at any line: the pipeline."""
