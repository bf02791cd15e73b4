"""Examples of the bench's own files: user scripts (`my_check.py`, `signal_check.yaml`,
`data_echo.yaml`), a rack (`rack.yaml`) and transcripts recorded on the virtual modem's profiles
(`transcripts/`, made again by `make transcripts`: `python -m hil.examples.record`)."""
