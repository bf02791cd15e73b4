"""m2msim: gateway."""
