"""When a replaced certificate may go, decided right before the delete, and the delete."""
