"""m2msim: m2msim."""
