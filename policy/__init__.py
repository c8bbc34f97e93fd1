"""The stagecraft CrossGuard policy pack: rules (shared) and the offline harness."""
