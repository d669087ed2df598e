"""The JSON HTTP API under ``/v1`` (FastAPI, OpenAPI 3.1): thin routes that parse, call a service, render."""
