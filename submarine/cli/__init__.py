"""The ``submarine`` command line: experiments from a terminal, and the local server.

Built with Typer (typed commands on click, shell completion for bash, zsh and fish via
``submarine --install-completion``) and Rich (tables and the live progress line).
Everything it does with a server goes through the public clients. The entry points are in
:mod:`submarine.cli.main`: ``main()``, the console script, and ``entry_point``, the
command as a Click command (as Submarine 0.8.0's tests import it).
"""
