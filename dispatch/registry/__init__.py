"""The registry: who logs in, and the devices on the broker (use cases)."""
