"""The mobile web app: server-rendered Jinja2 pages with HTMX, calling the services directly (an adapter)."""
