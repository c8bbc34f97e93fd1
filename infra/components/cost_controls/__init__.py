"""Cost controls that act: the stack's AWS budget and its off-hours schedule."""
