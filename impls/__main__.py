"""``python -m impls`` runs the ``maxpool`` command."""

import sys

from .tools.cli import main

sys.exit(main())
