"""sysctl readings -> :class:`Sysctl` facts.

Accepted lines (``grammars/sysctl.lark``):

- ``net.ipv4.ip_forward = 1`` (``sysctl -a``, ``sysctl KEY``),
- ``net.ipv4.ip_forward=1`` (``sysctl.conf`` style, ``sysctl -w`` echo),
- ``/proc/sys/net/ipv4/conf/eth0.100/route_localnet:0`` (``grep . /proc/sys/...``).

Key representation (the one ``sysctl -a`` prints): components joined by ``.``; a dot
*inside* a component (an interface name such as ``eth0.100``) is written ``/``. So the
``/proc/sys`` path ``net/ipv4/conf/eth0.100/route_localnet`` and sysctl's
``net.ipv4.conf.eth0/100.route_localnet`` both become
``net.ipv4.conf.eth0/100.route_localnet``. Build keys with :func:`sysctl_iface_key`
instead of formatting them by hand.

Lines procps prints about keys it could not read (``sysctl: cannot stat ...``,
``sysctl: permission denied on key ...``) and comments (``#``/``;``) are skipped
without a diagnostic: they are valid output, just not readings.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files

from lark import Tree
from lark.exceptions import LarkError, UnexpectedInput

from ...diagnostics import diag
from ...ir import Diagnostic, Sysctl
from ...source import Text

__all__ = ["parse_sysctl", "sysctl_iface_key", "proc_path_to_key"]


@lru_cache(maxsize=1)
def _parser() -> Lark:
    grammar = files("dnlint.grammars").joinpath("sysctl.lark").read_text()
    from ...grammar import lark_parser

    return lark_parser(grammar, "sysctl.lark", parser="lalr", maybe_placeholders=False)


def sysctl_iface_key(family: int, iface: str, name: str) -> str:
    """The key of a per-interface setting, as ``sysctl -a`` prints it.

    ``sysctl_iface_key(4, "br-064f9014c32c", "route_localnet")`` ->
    ``net.ipv4.conf.br-064f9014c32c.route_localnet``;
    ``sysctl_iface_key(4, "eth0.100", "rp_filter")`` -> ``net.ipv4.conf.eth0/100.rp_filter``;
    ``family`` 6 gives ``net.ipv6.conf...``. ``iface`` may be ``all`` or ``default``.
    """
    fam = "ipv6" if family == 6 else "ipv4"
    return f"net.{fam}.conf.{iface.replace('.', '/')}.{name}"


def proc_path_to_key(path: str) -> str:
    """``/proc/sys/net/ipv4/conf/eth0.100/route_localnet`` -> ``net.ipv4.conf.eth0/100.route_localnet``."""
    rel = path[len("/proc/sys/"):] if path.startswith("/proc/sys/") else path.lstrip("/")
    return ".".join(part.replace(".", "/") for part in rel.split("/") if part)


def parse_sysctl(text: Text) -> tuple[list[Sysctl], list[Diagnostic]]:
    """Read sysctl lines (see the module docstring). Never raises."""
    out: list[Sysctl] = []
    diags: list[Diagnostic] = []
    parser = _parser()
    for idx, raw in enumerate(text.lines):
        try:
            line = raw.strip()
            if not line or line[0] in "#;" or line.startswith("sysctl:"):
                continue
            col = len(raw) - len(raw.lstrip()) + 1
            if line.startswith("-"):  # sysctl.conf: "-key = value" (ignore errors) prefix
                line = line[1:]
                col += 1
            try:
                tree = parser.parse(line)
            except UnexpectedInput as e:
                shown = line if len(line) <= 80 else line[:77] + "..."
                diags.append(diag(
                    "DN001",
                    f"not a sysctl reading (expected `key = value`); the line was skipped: {shown!r}",
                    text.span(idx, col + max((getattr(e, "column", 1) or 1) - 1, 0))))
                continue
            except LarkError:
                diags.append(diag("DN001", "not a sysctl reading; the line was skipped",
                                  text.span(idx, col)))
                continue
            node = tree.children[0]
            assert isinstance(node, Tree)
            key = str(node.children[0])
            value = str(node.children[1]).strip() if len(node.children) > 1 else ""
            if node.data == "proc":
                key = proc_path_to_key(key)
            elif "/" in key and "." not in key:
                key = proc_path_to_key(key)  # `net/ipv4/ip_forward = 1` (sysctl accepts both)
            out.append(Sysctl(key, value, text.span(idx, col)))
        except Exception as e:  # never take the whole dump down
            diags.append(diag("DN001", f"internal error while reading this line ({type(e).__name__})",
                              text.span(idx, 1)))
    return out, diags
