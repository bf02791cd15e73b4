"""`python -m modem.sms COMMAND ...`: the SMS codec commands (see `modem.sms.cli`)."""

import sys

from .cli import main

sys.exit(main())
