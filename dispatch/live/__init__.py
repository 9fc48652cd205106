"""Live events: their JSON shape, and the Redis adapter that carries them."""
