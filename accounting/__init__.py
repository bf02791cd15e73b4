"""m2msim: accounting."""
