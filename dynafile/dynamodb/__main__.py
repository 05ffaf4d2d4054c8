"""``python -m dynafile.dynamodb PATH [options]``: the same as ``dynafile serve``."""

import sys

from .server import main

if __name__ == "__main__":
    sys.exit(main())
