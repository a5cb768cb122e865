"""``python -m nasjax.protocol``: see :mod:`nasjax.protocol.cli`."""

import sys

from nasjax.protocol.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
