"""``python -m nasjax``."""

from nasjax.app.cli import main

main()
