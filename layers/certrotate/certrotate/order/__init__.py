"""ACME: what is ordered (names, key, profile), how each name is validated, the order, the stash."""
