"""python3 -m qat: see qat/cli.py."""

import sys

from qat.cli import main

sys.exit(main())
