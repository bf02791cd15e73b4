"""`python -m m2msim`."""

import sys

from m2msim.cli import main

sys.exit(main())
