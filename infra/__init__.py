"""stagecraft: the Pulumi program, its components, config model and offline tooling."""
