"""Prototype for goal 5b: the ``submarine`` CLI with three start-up fixes applied from outside.

``python benchmarks/prototypes/fast_cli.py [submarine arguments]`` runs the real CLI after:

1. keeping httpx from importing its own command-line tool: ``httpx/__init__`` imports
   ``httpx._main`` (rich, click, pygments: about 35-45 ms) whenever they are installed, as
   our ``cli`` extra installs them. The fix in the client is to import httpx only when a
   client is created (or to keep the CLI from paying for it some other way); here the module
   is blocked, which httpx handles (it falls back to a stub ``main``).
2. not building a TLS context for a plain ``http://`` host: ``httpx.Client()`` loads the
   CA bundle (35-60 ms) even when no request will use TLS. The fix in the client is to pass
   ``verify=False`` when the host's scheme is ``http`` (nothing is ever sent over TLS then:
   httpx follows no redirects by default); here every client without an explicit ``verify``
   gets that for an ``http://`` host.
3. writing JSON with pydantic-core's encoder: ``json.dumps(..., indent=2)`` cannot use the C
   encoder (``indent`` forces the pure-Python one), so 1,000 experiments take 100+ ms;
   ``pydantic_core.to_json(data, indent=2)`` writes the same document in a few ms. The fix is
   that one line in ``submarine/cli/_output.py``'s ``dump``.

The benchmark times this against the upstream CLI next to the real one (row 5b.1p/5b.2p).
"""

from __future__ import annotations

import sys
from typing import Any

sys.modules["httpx._main"] = None  # type: ignore[assignment]  # (1)


def _patch() -> None:
    import httpx
    import pydantic_core

    from submarine.cli import _output

    original_init = httpx.Client.__init__

    def init(self: httpx.Client, *args: Any, **kwargs: Any) -> None:  # (2)
        kwargs.setdefault("verify", False)
        original_init(self, *args, **kwargs)

    httpx.Client.__init__ = init  # type: ignore[method-assign]

    original_dump = _output.dump

    def dump(data: Any, fmt: Any) -> str:  # (3)
        if fmt is _output.OutputFormat.JSON:
            return pydantic_core.to_json(data, indent=2).decode() + "\n"
        return original_dump(data, fmt)

    _output.dump = dump


def main() -> None:
    """Run the CLI with the fixes applied."""
    hosts = [a for a in sys.argv if a.startswith("http")]
    if any(not h.startswith("http://") for h in hosts):
        raise SystemExit("the prototype only skips TLS set-up for http:// hosts")
    _patch()
    from submarine.cli import main as cli_main

    sys.argv[0] = "submarine"
    cli_main()


if __name__ == "__main__":
    main()
