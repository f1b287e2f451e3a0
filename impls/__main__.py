"""``python -m impls`` runs the ``maxpool`` command."""

import sys

from .cli import main

sys.exit(main())
