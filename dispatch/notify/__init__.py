"""Telling people outside the call centre: SMS providers (more channels to come)."""
