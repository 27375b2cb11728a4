"""What store managers configure: stores, their opening hours, geofences and campaigns."""
