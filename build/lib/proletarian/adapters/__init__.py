"""Implementations of the ports: stores, serializers, id strategies, clocks."""
