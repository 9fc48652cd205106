"""Who should go: travel-time model and the OR-Tools assignment (pure code)."""
