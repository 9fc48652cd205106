"""CareBell's dispatch server: domain core, matcher, persistence, API and live hub."""
