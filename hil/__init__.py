"""m2msim: hil."""
