"""The workbench: :mod:`.routes` serves the page (``static/``) that watches, compares and
creates experiments through this server's own API."""
