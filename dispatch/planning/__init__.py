"""Planned home services: the day's visits as caregivers' routes under time windows."""
