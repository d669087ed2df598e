"""PocketBank: the bank behind a phone."""
