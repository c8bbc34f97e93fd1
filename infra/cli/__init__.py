"""The `stagecraft` command."""
