"""The threaded queue worker and the handler registry."""
