"""Synthetic cities, device fleets and caregiver apps for demos and load tests."""
