"""Prototypes of fixes for missed goals, measured by the benchmarks next to the package's code.

``lazy_list`` (goal 2), ``fast_cli`` (goal 5b) and ``server_list`` (goal 8): each module's
docstring says what it changes, what it measured, and how to move it into the package.
"""
