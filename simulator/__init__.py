"""m2msim: simulator."""
