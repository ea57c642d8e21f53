"""``$(NAME)`` in a replica's command, expanded by Kubernetes' rule (not a shell's).

Kubernetes expands ``$(NAME)`` in a container's command and args from the variables declared
for the container, and Submarine's documents rely on it
(``--log_dir=$(SUBMARINE_TENSORBOARD_LOG_DIR)``). The rule, applied to each word after the
command is split:

* ``$(NAME)`` becomes NAME's value when NAME is declared for the replica (the spec's env vars
  and the variables the server sets for it; not the inherited environment such as ``HOME``);
  otherwise it stays as written;
* ``$$`` is an escaped ``$`` (``$$(NAME)`` is the text ``$(NAME)``);
* every other ``$`` stays as written, and nothing is ever run: ``$(touch x)`` names no
  variable and stays text.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["expand", "expand_all"]


def expand(word: str, declared: Mapping[str, str]) -> str:
    """``word`` with each ``$(NAME)`` of a declared NAME replaced by its value."""
    if "$" not in word:
        return word
    out: list[str] = []
    i, n = 0, len(word)
    while i < n:
        char = word[i]
        if char != "$" or i + 1 == n:
            out.append(char)
            i += 1
            continue
        following = word[i + 1]
        if following == "$":
            out.append("$")
            i += 2
        elif following == "(":
            close = word.find(")", i + 2)
            if close < 0:  # no closing parenthesis: the rest is text
                out.append(word[i:])
                break
            name = word[i + 2 : close]
            out.append(declared[name] if name in declared else word[i : close + 1])
            i = close + 1
        else:
            out.append(char)
            i += 1
    return "".join(out)


def expand_all(argv: list[str], declared: Mapping[str, str]) -> list[str]:
    """Every word of ``argv`` expanded (see :func:`expand`)."""
    return [expand(word, declared) for word in argv]
