"""``python -m minigen``: the same as the ``minigen`` command (see :mod:`minigen.cli`)."""
import sys

from .cli import main

sys.exit(main())
