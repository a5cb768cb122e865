"""``python -m nasjax``."""

from nasjax.cli import main

main()
