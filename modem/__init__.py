"""m2msim: modem."""
