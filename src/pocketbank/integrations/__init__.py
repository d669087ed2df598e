"""Adapters to the world outside: clocks, rails, price feeds, SMS."""
