"""``docker network inspect`` / ``docker inspect`` JSON -> Docker inventory facts.

The section may hold several JSON arrays one after another (one per command, or
``docker network inspect a b`` printing one array), single objects (``--format
'{{json .}}'``), indentation from a transcript, and stray non-JSON lines (``Error: No such
network: x``). Each array element is classified on its own:

- a *container* has ``NetworkSettings``/``HostConfig``/``State`` (checked first: a
  container also has a ``Driver`` key, the storage driver);
- a *network* has ``IPAM``/``Driver``/``Containers``;
- anything else (an image, a volume) is skipped with an informational DN001.

Networks: ``bridge`` is ``Options["com.docker.network.bridge.name"]``, else for the
``bridge`` driver ``docker0`` for the default network named ``bridge`` and ``br-`` + the
first 12 characters of the id for user networks, else None. ``subnets``/``gateways`` from
``IPAM.Config``. ``endpoints`` from ``Containers`` (name, ``IPv4Address``/``IPv6Address``
as CIDRs, ``MacAddress``).

Containers: ``name`` without the leading ``/``; ``running`` from ``State.Running``;
``network_mode`` from ``HostConfig.NetworkMode``; ``endpoints`` from
``NetworkSettings.Networks`` (``IPAddress/IPPrefixLen`` as a CIDR, ``Aliases``), or from
the pre-1.9 top-level ``NetworkSettings.IPAddress`` (network ``bridge``). ``ports`` from
``NetworkSettings.Ports`` when it lists bindings (the live ones; a running container),
else from ``HostConfig.PortBindings`` (the configured ones; a stopped container). An empty
``HostIp`` (all addresses) is ``0.0.0.0``; an empty ``HostPort`` (docker picks one) is 0;
exposed-but-unpublished ports (``"80/tcp": null``) give no binding.

Spans point at the line where each object starts. Invalid JSON gives DN001 at the line and
column the JSON decoder reports; reading resumes at the next line that starts an array.
"""

from __future__ import annotations

import bisect
import json
from typing import Any

from ...diagnostics import diag
from ...ir import Diagnostic, DockerContainer, DockerEndpoint, DockerNetwork, PortBinding, Severity
from ...source import Text

__all__ = ["parse_docker_json"]

_WS = " \t\r\n"
_DECODER = json.JSONDecoder()


class _Doc:
    def __init__(self, text: Text):
        self.text = text
        self.s = "\n".join(text.lines)
        self.starts = [0]
        for line in text.lines:
            self.starts.append(self.starts[-1] + len(line) + 1)

    def pos(self, offset: int) -> tuple[int, int]:
        """0-based line index and 1-based column of a character offset."""
        idx = bisect.bisect_right(self.starts, offset) - 1
        idx = max(0, min(idx, max(len(self.text.lines) - 1, 0)))
        return idx, offset - self.starts[idx] + 1

    def span(self, offset: int):
        idx, col = self.pos(offset)
        return self.text.span(idx, col)


def _skip_ws(s: str, pos: int) -> int:
    n = len(s)
    while pos < n and s[pos] in _WS:
        pos += 1
    return pos


def _decode_array(s: str, pos: int) -> tuple[list[tuple[Any, int]], int]:
    """Decode the array starting at ``s[pos] == '['``; return (element, start offset) pairs."""
    items: list[tuple[Any, int]] = []
    pos = _skip_ws(s, pos + 1)
    if pos < len(s) and s[pos] == "]":
        return items, pos + 1
    while True:
        pos = _skip_ws(s, pos)
        obj, end = _DECODER.raw_decode(s, pos)
        items.append((obj, pos))
        pos = _skip_ws(s, end)
        if pos < len(s) and s[pos] == ",":
            pos += 1
            continue
        if pos < len(s) and s[pos] == "]":
            return items, pos + 1
        raise json.JSONDecodeError("Expecting ',' delimiter or ']'", s, pos)


def _str(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, str):
        return v or None
    return str(v)


def _dict(v: Any) -> dict:
    return v if isinstance(v, dict) else {}


def _list(v: Any) -> list:
    return v if isinstance(v, list) else []


def _network(obj: dict, span) -> DockerNetwork:
    name = _str(obj.get("Name")) or _str(obj.get("Id")) or "?"
    nid = _str(obj.get("Id")) or _str(obj.get("ID"))
    driver = _str(obj.get("Driver"))
    options = {str(k): "" if v is None else str(v) for k, v in _dict(obj.get("Options")).items()}
    bridge = options.get("com.docker.network.bridge.name") or None
    if bridge is None and driver == "bridge":
        if name == "bridge":
            bridge = "docker0"
        elif nid:
            bridge = "br-" + nid[:12]
    subnets: list[str] = []
    gateways: list[str] = []
    for cfg in _list(_dict(obj.get("IPAM")).get("Config")):
        cfg = _dict(cfg)
        if _str(cfg.get("Subnet")):
            subnets.append(str(cfg["Subnet"]))
        if _str(cfg.get("Gateway")):
            gateways.append(str(cfg["Gateway"]))
    endpoints: list[DockerEndpoint] = []
    for cid, ep in _dict(obj.get("Containers")).items():
        ep = _dict(ep)
        endpoints.append(DockerEndpoint(
            container=_str(ep.get("Name")) or str(cid), network=name,
            ipv4=_str(ep.get("IPv4Address")), ipv6=_str(ep.get("IPv6Address")),
            mac=_str(ep.get("MacAddress"))))
    return DockerNetwork(name, span, id=nid, driver=driver, subnets=tuple(subnets),
                         gateways=tuple(gateways), bridge=bridge,
                         internal=bool(obj.get("Internal") is True), options=tuple(sorted(options.items())),
                         endpoints=tuple(endpoints))


def _gateway(ep: dict, key: str) -> str | None:
    """An endpoint's gateway: the address, "" when the field says there is none, None when absent."""
    v = ep.get(key)
    return v.strip() if isinstance(v, str) else None


def _cidr(addr: Any, plen: Any) -> str | None:
    a = _str(addr)
    if not a:
        return None
    if isinstance(plen, int) and plen > 0 and "/" not in a:
        return f"{a}/{plen}"
    return a


def _bindings(ports: dict) -> list[PortBinding]:
    out: list[PortBinding] = []
    for key, binds in ports.items():
        port_s, _, proto = str(key).partition("/")
        try:
            cport = int(port_s)
        except ValueError:
            continue
        for b in _list(binds):
            b = _dict(b)
            host_ip = _str(b.get("HostIp")) or "0.0.0.0"
            hp = _str(b.get("HostPort"))
            try:
                hport = int(hp) if hp else 0
            except ValueError:
                hport = 0
            pb = PortBinding(cport, proto or "tcp", host_ip, hport)
            if pb not in out:
                out.append(pb)
    return out


def _container(obj: dict, span) -> DockerContainer:
    name = (_str(obj.get("Name")) or _str(obj.get("Id")) or "?").lstrip("/")
    cid = _str(obj.get("Id")) or _str(obj.get("ID"))
    state = obj.get("State")
    running = None
    if isinstance(state, dict) and isinstance(state.get("Running"), bool):
        running = state["Running"]
    elif isinstance(state, str):  # `docker ps --format json` style
        running = state == "running"
    host_cfg = _dict(obj.get("HostConfig"))
    net_mode = _str(host_cfg.get("NetworkMode"))
    ns = _dict(obj.get("NetworkSettings"))
    endpoints: list[DockerEndpoint] = []
    for net, ep in _dict(ns.get("Networks")).items():
        ep = _dict(ep)
        endpoints.append(DockerEndpoint(
            container=name, network=str(net),
            ipv4=_cidr(ep.get("IPAddress"), ep.get("IPPrefixLen")),
            ipv6=_cidr(ep.get("GlobalIPv6Address"), ep.get("GlobalIPv6PrefixLen")),
            mac=_str(ep.get("MacAddress")),
            aliases=tuple(str(a) for a in _list(ep.get("Aliases"))),
            gateway=_gateway(ep, "Gateway"), gateway6=_gateway(ep, "IPv6Gateway"),
            network_id=_str(ep.get("NetworkID"))))
    if not endpoints and _str(ns.get("IPAddress")):  # Docker < 1.9
        endpoints.append(DockerEndpoint(
            container=name, network="bridge",
            ipv4=_cidr(ns.get("IPAddress"), ns.get("IPPrefixLen")),
            ipv6=_cidr(ns.get("GlobalIPv6Address"), ns.get("GlobalIPv6PrefixLen")),
            mac=_str(ns.get("MacAddress"))))
    # NetworkSettings.Ports is what Docker did publish (empty for a container on an --internal
    # network, whose -p publishes nothing); HostConfig.PortBindings only what was asked for (all a
    # stopped container has)
    requested_only = not isinstance(ns.get("Ports"), dict) or running is False
    ports = _bindings(_dict(host_cfg.get("PortBindings"))) if requested_only else _bindings(_dict(ns.get("Ports")))
    exposed = tuple(str(k) for k in _dict(_dict(obj.get("Config")).get("ExposedPorts")))
    return DockerContainer(name, span, id=cid, running=running, network_mode=net_mode,
                           endpoints=tuple(endpoints), ports=tuple(ports), exposed=exposed,
                           ports_requested_only=requested_only and bool(ports))


_CONTAINER_KEYS = ("NetworkSettings", "HostConfig", "State")
_NETWORK_KEYS = ("IPAM", "Driver", "Containers")


def parse_docker_json(text: Text) -> tuple[tuple[list[DockerNetwork], list[DockerContainer]], list[Diagnostic]]:
    """Read ``docker network inspect`` / ``docker inspect`` output. Never raises."""
    networks: list[DockerNetwork] = []
    containers: list[DockerContainer] = []
    diags: list[Diagnostic] = []
    try:
        doc = _Doc(text)
    except Exception as e:  # pragma: no cover - defensive
        return ([], []), [diag("DN001", f"cannot read this JSON section ({type(e).__name__})")]
    s = doc.s
    pos = 0

    def next_line_start(offset: int) -> int:
        idx, _ = doc.pos(offset)
        return doc.starts[idx + 1] if idx + 1 < len(doc.starts) else len(s)

    def resync(offset: int) -> int:
        """The next line (after the one holding ``offset``) whose text starts an array."""
        p = next_line_start(offset)
        while p < len(s):
            q = _skip_ws(s, p)
            idx, _ = doc.pos(p)
            line = text.lines[idx].lstrip() if idx < len(text.lines) else ""
            if line.startswith("["):
                return q
            p = next_line_start(p)
        return len(s)

    def classify(obj: Any, start: int) -> None:
        if not isinstance(obj, dict):
            diags.append(diag("DN001", "a JSON value that is not a Docker object; it was skipped",
                              doc.span(start), severity=Severity.INFO))
            return
        try:
            if any(k in obj for k in _CONTAINER_KEYS):
                containers.append(_container(obj, doc.span(start)))
            elif any(k in obj for k in _NETWORK_KEYS):
                networks.append(_network(obj, doc.span(start)))
            else:
                diags.append(diag(
                    "DN001", "a JSON object that is neither a Docker network nor a container "
                    "(no IPAM/Driver/Containers, no NetworkSettings/HostConfig); it was skipped",
                    doc.span(start), severity=Severity.INFO))
        except Exception as e:
            diags.append(diag("DN001", f"a malformed Docker object ({type(e).__name__}); it was skipped",
                              doc.span(start)))

    guard = 0
    while True:
        guard += 1
        if guard > len(s) + 10:  # pragma: no cover - cannot happen, progress is monotonic
            break
        try:
            pos = _skip_ws(s, pos)
            if pos >= len(s):
                break
            ch = s[pos]
            if ch in "[{":
                try:
                    if ch == "[":
                        items, end = _decode_array(s, pos)
                    else:
                        obj, end = _DECODER.raw_decode(s, pos)
                        items = [(obj, pos)]
                except json.JSONDecodeError as e:
                    diags.append(diag("DN001", f"invalid JSON: {e.msg}; reading resumes at the next array",
                                      doc.span(e.pos)))
                    pos = resync(max(e.pos, pos))
                    continue
                except RecursionError:
                    diags.append(diag("DN001", "JSON nested too deeply; skipped", doc.span(pos)))
                    pos = resync(pos)
                    continue
                for obj, start in items:
                    classify(obj, start)
                pos = end
            else:
                idx, col = doc.pos(pos)
                shown = text.lines[idx].strip()
                if len(shown) > 80:
                    shown = shown[:77] + "..."
                diags.append(diag("DN001", f"not JSON output of `docker inspect`; the line was skipped: {shown!r}",
                                  text.span(idx, col)))
                pos = next_line_start(pos)
        except Exception as e:  # never take the whole dump down
            diags.append(diag("DN001", f"internal error while reading JSON ({type(e).__name__})",
                              doc.span(min(pos, max(len(s) - 1, 0)))))
            pos = next_line_start(pos)
    return (networks, containers), diags
