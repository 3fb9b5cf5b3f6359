"""Live commands: scan, pair, devices, forget, live, demo."""
