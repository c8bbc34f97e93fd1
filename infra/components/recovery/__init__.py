"""Getting back from a bad day: backups of the environment's data, and tests that they restore."""
