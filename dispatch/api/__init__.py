"""HTTP API: thin routers over the store; no business rules here."""
