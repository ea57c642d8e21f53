"""0.8.0's ``submarine.client.utils``: :mod:`submarine.client.utils.api_utils`."""
