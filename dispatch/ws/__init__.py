"""The WebSocket hub: live streams to the board and to caregivers' apps."""
