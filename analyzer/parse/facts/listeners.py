"""``ss -tlnp`` / ``netstat -tlnp`` output -> :class:`Listener` facts.

Plain code rather than a grammar: the rows are whitespace-separated columns whose meaning
depends on the header and the tool, and the only structured fields (``addr:port`` and
``users:(...)``) are read with two regular expressions.

Accepted:

- ``ss -tlnp``, ``ss -lntp``, ``ss -tulnp`` (``Netid`` column), ``ss -lnt`` (no process),
  ``ss -tlp`` (service names: ``*:ssh``, ``:::http``), IPv6 ``[::]:80``,
  ``[::ffff:127.0.0.1]:8443``, device-bound ``127.0.0.1%lo:53``, UDP ``UNCONN`` rows;
- old ss (CentOS 7): ``:::http``, ``*:22`` and ``users:(("httpd",25213,4),...)``;
- ``netstat -tlnp`` / ``-tulnp``: ``tcp6 0 0 :::80 :::* LISTEN 25452/docker``.

Conventions:

- ``proto`` is ``tcp``/``udp``/``sctp``; ``family`` is 6 for ``tcp6``/``udp6`` rows and
  IPv6 local addresses, else 4. Rows in other states than ``LISTEN``/``UNCONN`` (and
  ``UNCONN`` rows of TCP) are not listeners and are skipped; unix/raw/netlink sockets too.
- ``address`` is the local address as shown, without brackets and without a ``%dev``
  suffix (``127.0.0.1%lo`` -> ``127.0.0.1``; the device binding is not kept). ``*`` stays
  ``*``: current ss prints ``*`` for an IPv6 wildcard socket *without* IPV6_V6ONLY (it
  also accepts IPv4) and ``[::]`` for a v6-only one; old ss (CentOS 7) printed ``*`` for
  the IPv4 wildcard. The family of ``*`` is therefore 6 in sections that look modern
  (``pid=`` process fields, ``0.0.0.0``/``[...]`` addresses) and 4 in old ones
  (``:::port`` addresses, ``("name",pid,fd)`` process fields). A ``[::]``/``::`` listener
  is kept as ``::``; whether it accepts IPv4 too is for the model to decide.
- Ports given as service names are mapped to numbers (:data:`SERVICES`); an unknown name
  keeps the listener with ``port=0`` and a DN001 warning.
- ``process``/``pid`` come from the first entry of ss's ``users:(...)`` or from netstat's
  ``PID/Program name``.
"""

from __future__ import annotations

import re

from ...diagnostics import diag
from ...ir import Diagnostic, Listener, Severity
from ...source import Text
from ..services import SERVICES

__all__ = ["parse_listeners", "SERVICES"]

# /etc/services names ss and netstat print without -n (the common ones).

_SS_STATES = frozenset({"LISTEN", "UNCONN", "ESTAB", "SYN-SENT", "SYN-RECV", "FIN-WAIT-1",
                        "FIN-WAIT-2", "TIME-WAIT", "CLOSE-WAIT", "LAST-ACK", "CLOSING",
                        "CLOSED", "UNKNOWN"})
_NETSTAT_STATES = frozenset({"LISTEN", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1",
                             "FIN_WAIT2", "TIME_WAIT", "CLOSE", "CLOSE_WAIT", "LAST_ACK",
                             "CLOSING", "UNKNOWN"})
_INET_NETIDS = {"tcp": "tcp", "udp": "udp", "sctp": "sctp", "tcp6": "tcp", "udp6": "udp",
                "sctp6": "sctp", "udpl": "udp", "udpl6": "udp"}
_OTHER_NETIDS = frozenset({"u_str", "u_dgr", "u_seq", "raw", "raw6", "nl", "p_raw", "p_dgr",
                           "mptcp", "tipc", "vsock", "xdp", "unix", "v_str", "v_dgr",
                           "icmp6", "icmp"})
_USERS_RE = re.compile(r'\("((?:[^"\\]|\\.)*)",(?:pid=)?(\d+)')
_HEADER_WORDS = ("Netid", "State", "Proto", "Active", "Recv-Q")


def _split_addr(token: str) -> tuple[str, str] | None:
    """``[::]:80`` -> (``::``, ``80``); ``0.0.0.0:http`` -> (``0.0.0.0``, ``http``)."""
    if token.startswith("["):
        end = token.find("]")
        if end < 0 or end + 1 >= len(token) or token[end + 1] != ":":
            return None
        return token[1:end], token[end + 2:]
    if ":" not in token:
        return None
    host, _, port = token.rpartition(":")
    return host, port


def _is_v6(host: str) -> bool:
    return ":" in host


class _Row:
    __slots__ = ("proto", "family_hint", "state", "local", "process", "pid", "col")

    def __init__(self, proto, family_hint, state, local, process, pid, col):
        self.proto = proto
        self.family_hint = family_hint
        self.state = state
        self.local = local
        self.process = process
        self.pid = pid
        self.col = col


def _users(field: str) -> tuple[str | None, int | None]:
    m = _USERS_RE.search(field)
    if not m:
        return None, None
    return m.group(1), int(m.group(2))


def parse_listeners(text: Text) -> tuple[list[Listener], list[Diagnostic]]:
    """Read ``ss``/``netstat`` listening-socket output. Never raises."""
    diags: list[Diagnostic] = []
    rows: list[tuple[int, _Row]] = []
    old_hints = modern_hints = 0

    def bad(idx: int, col: int, what: str) -> None:
        shown = text.lines[idx].strip()
        if len(shown) > 80:
            shown = shown[:77] + "..."
        diags.append(diag("DN001", f"{what}; the line was skipped: {shown!r}", text.span(idx, col)))

    for idx, raw in enumerate(text.lines):
        try:
            line = raw.strip()
            if not line:
                continue
            col = len(raw) - len(raw.lstrip()) + 1
            toks = line.split()
            first = toks[0]
            if first in _HEADER_WORDS or line.startswith("Active "):
                continue
            if 'users:((' in line:
                if "pid=" in line:
                    modern_hints += 1
                elif re.search(r'users:\(\("[^"]*",\d+,', line):
                    old_hints += 1
            low = first.lower()
            if low in _OTHER_NETIDS:
                continue
            if low in _INET_NETIDS and len(toks) >= 2 and toks[1].isdigit():
                row = _netstat_row(toks, line, col)
            elif low in _INET_NETIDS and len(toks) >= 2 and toks[1] in _SS_STATES:
                row = _ss_row(toks[0], toks[1:], line, col)
            elif first in _SS_STATES:
                row = _ss_row(None, toks, line, col)
            else:
                bad(idx, col, "not a row of `ss`/`netstat` output")
                continue
            if row is None:
                bad(idx, col, "cannot read the columns of this socket row")
                continue
            if isinstance(row, str):
                continue  # not a listener (established, unix, ...)
            local_tok = ""
            if row.family_hint is None:  # an ss row: which ss printed it?
                local_tok = toks[4] if low in _INET_NETIDS else toks[3]
                if local_tok.startswith("[") or local_tok.startswith("0.0.0.0:"):
                    modern_hints += 1
                elif local_tok.startswith(":::"):
                    old_hints += 1
            rows.append((idx, row, local_tok))
        except Exception as e:  # never take the whole dump down
            bad(idx, 1, f"internal error while reading this line ({type(e).__name__})")

    modern = modern_hints >= old_hints
    out: list[Listener] = []
    for idx, row, local_tok in rows:
        try:
            host, port_s = row.local
            if "%" in host:
                host = host.split("%", 1)[0]
            if row.family_hint is not None:
                family = row.family_hint
            elif host == "*":
                family = 6 if modern else 4
            else:
                family = 6 if _is_v6(host) else 4
            if port_s.isdigit():
                port = int(port_s)
            elif port_s == "*":
                port = 0
            else:
                port = SERVICES.get(port_s.lower(), 0)
                if port == 0:
                    diags.append(diag(
                        "DN001",
                        f"unknown service name `{port_s}` for a listener on {host}; kept with port 0 "
                        "(run ss/netstat with -n to get numbers)",
                        text.span(idx, row.col), severity=Severity.WARNING))
            v6only = None
            if host == "*" and modern:
                v6only = False  # current ss: an IPv6 wildcard socket that takes IPv4 too
            elif host == "::" and local_tok.startswith("[::]"):
                v6only = True  # current ss prints [::] only for IPV6_V6ONLY sockets
            elif host == "::" and local_tok.startswith(":::"):
                v6only = False  # old ss printed dual-stack wildcard sockets as :::port
            out.append(Listener(row.proto or "tcp", host, port, family, text.span(idx, row.col),
                                process=row.process, pid=row.pid, v6only=v6only))
        except Exception as e:  # pragma: no cover - defensive
            bad(idx, 1, f"internal error while reading this line ({type(e).__name__})")
    diags.sort(key=lambda d: (d.span.line, d.span.col) if d.span else (0, 0))
    return out, diags


def _ss_row(netid: str | None, toks: list[str], line: str, col: int):
    """``[netid] STATE RECVQ SENDQ LOCAL PEER [users:(...)] ...``."""
    state = toks[0]
    if len(toks) < 5:
        return None
    if not (toks[1].isdigit() and toks[2].isdigit()):
        return None
    proto = _INET_NETIDS.get(netid.lower()) if netid else None
    if proto is None:
        proto = "udp" if state == "UNCONN" else "tcp"
    if state not in ("LISTEN", "UNCONN") or (state == "UNCONN" and proto == "tcp" and netid):
        return "skip"
    local = _split_addr(toks[3])
    if local is None or not local[0] or not local[1]:
        return None
    process = pid = None
    u = line.find("users:(")
    if u >= 0:
        process, pid = _users(line[u:])
    fam = 6 if netid and netid.endswith("6") else None
    return _Row(proto, fam, state, local, process, pid, col)


def _netstat_row(toks: list[str], line: str, col: int):
    """``PROTO RECVQ SENDQ LOCAL FOREIGN [STATE] [PID/Program|-]``."""
    if len(toks) < 5 or not toks[2].isdigit():
        return None
    netid = toks[0].lower()
    proto = _INET_NETIDS[netid]
    local = _split_addr(toks[3])
    if local is None or not local[0] or not local[1]:
        return None
    rest = toks[5:]
    state = None
    if rest and rest[0] in _NETSTAT_STATES:
        state = rest[0]
        rest = rest[1:]
    if proto == "tcp" and state != "LISTEN":
        return "skip"
    if proto != "tcp" and state not in (None, "LISTEN"):
        return "skip"  # udp rows with ESTABLISHED (connected sockets)
    process = pid = None
    if rest:
        m = re.match(r"(\d+)/(.*)$", " ".join(rest))
        if m:
            pid = int(m.group(1))
            process = m.group(2).strip() or None
    fam = 6 if netid.endswith("6") else 4
    if fam == 4 and _is_v6(local[0]):
        fam = 6
    return _Row(proto, fam, state, local, process, pid, col)
