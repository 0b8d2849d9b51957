"""`python -m unified ...`: the same command as `unified ...` (unified/cli.py)."""

import sys

from unified.cli import main

sys.exit(main())
