"""The command line's own settings (``submarine config``), kept in a file of the user's.

:mod:`submarine.cli.config.config` holds them: 0.8.0's ``connection.hostname`` and
``connection.port``, the server the commands talk to when neither ``--host`` nor the
environment names one.
"""
