"""Command-line entry point (``python -m nasjax`` / ``nasjax``)."""

from __future__ import annotations

from nasjax.demo import main as demo_main


def main() -> None:
    """Run the default job on the bundled sample."""
    demo_main()
