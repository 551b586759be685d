"""`python -m proletarian`: the same as the `proletarian` command."""

import sys

from proletarian.cli import main

sys.exit(main())
