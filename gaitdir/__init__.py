"""gaitdir: counts forward and backward steps from one wearable IMU."""

__version__ = "0.1.0"
