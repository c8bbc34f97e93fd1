"""One Pulumi ComponentResource per concern; :class:`Environment` composes them."""
