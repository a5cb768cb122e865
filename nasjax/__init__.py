"""nasjax."""
