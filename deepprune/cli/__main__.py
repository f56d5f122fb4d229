"""``python -m deepprune.cli``: the ``deepprune`` command."""

import sys

from deepprune.cli import main

sys.exit(main())
