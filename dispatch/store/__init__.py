"""Persistence: SQLModel tables and the one module that owns database sessions."""
