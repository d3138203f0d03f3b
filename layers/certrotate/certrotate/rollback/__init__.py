"""A rotation undone: every endpoint back on the replaced certificate, both held until forced."""
