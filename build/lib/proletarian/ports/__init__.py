"""Protocols the worker and the application program against; adapters implement them."""
