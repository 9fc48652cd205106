"""Two-way voice: operators, elders' devices, caregivers' apps and phone numbers (docs/voice.md).

``session`` is the pure call state machine; ``service`` applies it and relays the
signalling (the WebRTC offers and answers) between the parties' channels.
"""
