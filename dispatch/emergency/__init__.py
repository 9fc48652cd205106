"""Emergencies: from a device message to a caregiver at the door (use cases)."""
