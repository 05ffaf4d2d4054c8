"""``python -m dynafile``: the ``dynafile`` command (see :mod:`dynafile.cli`)."""

import sys

from .cli import main

sys.exit(main())
