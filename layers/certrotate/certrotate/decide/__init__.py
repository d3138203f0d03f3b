"""Is a certificate due, and what may a rotation do: the renewal policies, pure, time an argument."""
