"""``python -m symsoftmax``: the same as the ``symsoftmax`` console script."""

import sys

from symsoftmax.cli import main

sys.exit(main())
