"""``python -m symsoftmax``: the same as the ``symsoftmax`` console script."""

import sys

try:
    from symsoftmax.cli import main
except KeyboardInterrupt:  # interrupted while importing: one line, as main() reports it
    sys.stderr.write("symsoftmax: interrupted\n")
    sys.exit(130)

sys.exit(main())
