"""``python -m submarine.cli``: the same as the ``submarine`` command."""

from submarine.cli.main import main

if __name__ == "__main__":
    main()
