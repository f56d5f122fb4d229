import sys

from deepprune.cli import main

sys.exit(main())
