"""The text form of ``dnlint parse``: what was read, where it came from, for people."""

from __future__ import annotations

from collections import Counter

from .ir import HostDump


def _rule_line(rule) -> str:
    from .emit import rule_spec

    spec = rule_spec(rule)
    return f"-A {rule.chain} {spec}" if spec else f"-A {rule.chain}"


def render_dump(dump: HostDump) -> str:
    out: list[str] = []
    f = dump.facts
    out.append(f"{dump.file}")
    out.append(f"  {len(dump.sections)} sections, {len(dump.rulesets)} rulesets, "
               f"{sum(len(c.rules) for rs in dump.rulesets for t in rs.tables for c in t.chains)} rules")
    counts = [(len(f.interfaces), "interfaces"), (len(f.addresses), "addresses"), (len(f.routes), "routes"),
              (len(f.sysctls), "sysctls"), (len(f.listeners), "listeners"), (len(f.processes), "processes"),
              (len(f.docker_networks), "docker networks"), (len(f.docker_containers), "docker containers")]
    if dump.nft:
        out.append(f"  nftables: {sum(len(rs.tables) for rs in dump.nft)} tables in {len(dump.nft)} nft sections")
    facts = ", ".join(f"{n} {what}" for n, what in counts if n)
    out.append(f"  facts: {facts or 'none'}")
    out.append("")
    if dump.sections:
        out.append("Sections:")
        for s in dump.sections:
            cmd = f"  `{s.command}`" if s.command else ""
            note = f"  ({s.note})" if s.note else ""
            out.append(f"  {s.span.line:>6}-{s.end_line:<6} {s.kind.value:<16}{cmd}{note}")
        out.append("")
    for rs in dump.rulesets:
        head = f"IPv{rs.family} {rs.format.value}"
        if rs.backend:
            head += f" ({rs.backend})"
        out.append(f"{head}, line {rs.span.line}" + (f": {rs.header}" if rs.header else ""))
        for table in rs.tables:
            out.append(f"  *{table.name}" + ("" if table.complete else "  (never reaches COMMIT: truncated, DN015)"))
            for chain in table.chains:
                pol = chain.policy or "-"
                cnt = f" [{chain.counters.packets}:{chain.counters.bytes}]" if chain.counters else ""
                out.append(f"  {chain.span.line:>6}  :{chain.name} {pol}{cnt}")
                for rule in chain.rules:
                    extra = ""
                    if rule.unknown:
                        extra += f"   # not shown: {', '.join(sorted(rule.unknown))}"
                    if rule.lossy:
                        extra += f"   # lossy: {'; '.join(rule.lossy)}"
                    out.append(f"  {rule.span.line:>6}  {_rule_line(rule)}{extra}")
        out.append("")
    if dump.nft:
        out.extend(_render_nft(dump))
    if any(counts[i][0] for i in range(len(counts))):
        out.append("Facts:")
        for a in f.addresses:
            out.append(f"  {a.span.line:>6}  address {a.iface} {a.cidr}" + (f" scope {a.scope}" if a.scope else ""))
        for r in f.routes:
            parts = [r.type if r.type != "unicast" else "", r.dst]
            if r.via:
                parts.append(f"via {r.via}")
            if r.dev:
                parts.append(f"dev {r.dev}")
            if r.src:
                parts.append(f"src {r.src}")
            if r.table != "main":
                parts.append(f"table {r.table}")
            out.append(f"  {r.span.line:>6}  route " + " ".join(p for p in parts if p))
        for s in f.sysctls:
            out.append(f"  {s.span.line:>6}  sysctl {s.key} = {s.value}")
        for ls in f.listeners:
            who = f" ({ls.process}" + (f" pid {ls.pid}" if ls.pid else "") + ")" if ls.process else ""
            out.append(f"  {ls.span.line:>6}  listen {ls.proto} {ls.address}:{ls.port}{who}")
        for p in f.processes:
            if p.program in ("dockerd", "docker", "docker-proxy"):
                out.append(f"  {p.span.line:>6}  process {p.command}")
        others = len([p for p in f.processes if p.program not in ("dockerd", "docker", "docker-proxy")])
        if others:
            out.append(f"          ({others} other processes)")
        for n in f.docker_networks:
            out.append(f"  {n.span.line:>6}  docker network {n.name} bridge={n.bridge} subnets={','.join(n.subnets)}"
                       + (" internal" if n.internal else ""))
        for c in f.docker_containers:
            eps = ", ".join(f"{e.network}={e.ipv4}" for e in c.endpoints)
            ports = ", ".join(f"{p.host_ip}:{p.host_port}->{p.container_port}/{p.proto}" for p in c.ports)
            out.append(f"  {c.span.line:>6}  docker container {c.name} [{eps}] {ports}")
        out.append("")
    if dump.diagnostics:
        by_code = Counter(d.code for d in dump.diagnostics)
        out.append("Diagnostics: " + ", ".join(f"{c} x{n}" for c, n in sorted(by_code.items())))
        for d in dump.diagnostics:
            out.append(f"  {d}")
    return "\n".join(out) + "\n"


def _render_nft(dump: HostDump) -> list[str]:
    from .model.nft import is_iptables_nft_chain
    from .parse.nft import priority_text

    out: list[str] = []
    for rs in dump.nft:
        head = f"nft {rs.format}, line {rs.span.line}"
        if rs.command:
            head += f": `{rs.command}`"
        if rs.version:
            head += f" (nft {rs.version})"
        out.append(head)
        for t in rs.tables:
            base = [c for c in t.chains if c.base]
            native = [c for c in base if not is_iptables_nft_chain(t, c)]
            who = "native" if native else "iptables-nft"
            if native and len(native) < len(base):
                who = "iptables-nft, with native base chains"
            extra = f", flags {','.join(t.flags)}" if t.flags else ""
            out.append(f"  {t.span.line:>6}  table {t.family} {t.name}  [{who}{extra}]")
            for o in t.objects:
                n = f", {len(o.elements)} elements" if o.elements else ""
                out.append(f"  {o.span.line:>6}    {o.kind} {o.name}{n}")
            for c in t.chains:
                if c.base:
                    dev = f" device {c.device}" if c.device else ""
                    mark = "" if is_iptables_nft_chain(t, c) else "  (native)"
                    desc = (f"type {c.type} hook {c.hook}{dev} priority "
                            f"{priority_text(t.family, c.hook, c.priority)} ({c.priority}) policy {c.policy}{mark}")
                else:
                    desc = "regular"
                out.append(f"  {c.span.line:>6}    chain {c.name}: {desc}, {len(c.rules)} rules")
        out.append("")
    return out
