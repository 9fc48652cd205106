"""The composition root: what builds, runs and stops the server's parts."""
