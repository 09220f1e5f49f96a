"""``python -m recsys``: see :mod:`recsys.cli`."""

import sys

from recsys.cli import main

sys.exit(main())
