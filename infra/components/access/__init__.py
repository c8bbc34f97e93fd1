"""Who may reach what: people's roles per audience, the application's identity."""
