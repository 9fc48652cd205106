"""The device side: MQTT topics and payloads (pure), and the paho-mqtt gateway."""
