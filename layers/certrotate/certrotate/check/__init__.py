"""What is believed only once proven: certificates read and validated, bookkeeping claims proven."""
