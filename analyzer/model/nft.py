"""Native nftables beside the iptables model: which base chains of a dump's ``nft list ruleset``
the iptables tables do not account for.

iptables-nft (and ebtables-nft, arptables-nft) keep their rules in nf_tables tables that
``nft list ruleset`` shows too: tables ``raw``, ``mangle``, ``nat``, ``filter`` and ``security`` of
families ip and ip6, ``filter`` of arp, ``filter`` and ``nat`` of bridge, whose base chains are
the built-in chains (``INPUT``, ``FORWARD``...) registered on their hook at the priority that
iptables-nft gives them (nft 1.0.6 prints it ``priority filter``, ``priority dstnat``, ``priority
-100`` for nat OUTPUT, ``priority 150`` for security: iptables-nft's value, not the kernel's
NF_IP_PRI_SECURITY 50). Their rules are what ``iptables-nft-save`` shows, and the iptables model
reads them there. Any other base chain is native nftables (an nftables.conf, firewalld, Docker's
or kube-proxy's nftables backend): the kernel runs it on its hook beside the iptables chains,
and nothing in the iptables model sees it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..ir import HostDump, NftChain, NftRuleset, NftTable, Span
from ..parse.nft import priority_text

# family -> table -> builtin chain -> (hook, type, priority), as iptables-nft 1.8.9,
# ebtables-nft and arptables-nft create them (fixtures/nft/iptables-nft-*.nft,
# ebtables-arptables-nft.nft)
_IP_TABLES: dict[str, dict[str, tuple[str, str, int]]] = {
    "raw": {"PREROUTING": ("prerouting", "filter", -300), "OUTPUT": ("output", "filter", -300)},
    "mangle": {"PREROUTING": ("prerouting", "filter", -150), "INPUT": ("input", "filter", -150),
               "FORWARD": ("forward", "filter", -150), "OUTPUT": ("output", "route", -150),
               "POSTROUTING": ("postrouting", "filter", -150)},
    "nat": {"PREROUTING": ("prerouting", "nat", -100), "INPUT": ("input", "nat", 100),
            "OUTPUT": ("output", "nat", -100), "POSTROUTING": ("postrouting", "nat", 100)},
    "filter": {"INPUT": ("input", "filter", 0), "FORWARD": ("forward", "filter", 0),
               "OUTPUT": ("output", "filter", 0)},
    "security": {"INPUT": ("input", "filter", 150), "FORWARD": ("forward", "filter", 150),
                 "OUTPUT": ("output", "filter", 150)},
}
IPTABLES_NFT_CHAINS: dict[str, dict[str, dict[str, tuple[str, str, int]]]] = {
    "ip": _IP_TABLES,
    "ip6": _IP_TABLES,
    "arp": {"filter": {"INPUT": ("input", "filter", 0), "OUTPUT": ("output", "filter", 0)}},
    "bridge": {
        "filter": {"INPUT": ("input", "filter", -200), "FORWARD": ("forward", "filter", -200),
                   "OUTPUT": ("output", "filter", -200)},
        "nat": {"PREROUTING": ("prerouting", "filter", -300), "OUTPUT": ("output", "filter", 100),
                "POSTROUTING": ("postrouting", "filter", 300)},
    },
}

# which IP families a chain of an nft family can touch
_FAMILY_IP = {"ip": frozenset({4}), "ip6": frozenset({6}), "inet": frozenset({4, 6}),
              "bridge": frozenset({4, 6}), "netdev": frozenset({4, 6}), "arp": frozenset({4})}
_LAYER = {"ip": "ip", "ip6": "ip", "inet": "ip", "bridge": "bridge", "netdev": "netdev", "arp": "arp"}


def is_iptables_nft_chain(table: NftTable, chain: NftChain) -> bool:
    """A base chain exactly as iptables-nft (ebtables-nft, arptables-nft) creates it: a
    built-in chain name of an iptables table of its family, on that chain's hook, with its
    type and priority. A regular chain (no hook) is never a base chain and is not asked about."""
    spec = IPTABLES_NFT_CHAINS.get(table.family, {}).get(table.name, {}).get(chain.name)
    if spec is None:
        return False
    hook, type_, prio = spec
    return chain.hook == hook and chain.type == type_ and chain.priority == prio


def is_iptables_nft_table(table: NftTable) -> bool:
    """Every base chain of the table is iptables-nft's (and the table has a name iptables-nft
    uses); nft's ``managed by iptables-nft`` warning alone does not make a native chain in it
    iptables-nft's."""
    if table.name not in IPTABLES_NFT_CHAINS.get(table.family, {}):
        return False
    return all(is_iptables_nft_chain(table, c) for c in table.chains if c.base)


@dataclass(frozen=True, slots=True)
class NativeChain:
    """A native nftables base chain, where it stands and what it can touch.

    ``family`` is the nft family (ip, ip6, inet, arp, bridge, netdev) and ``table`` the table's
    name; ``chain`` the chain's name; ``hook`` the hook it is registered on (prerouting, input,
    forward, output, postrouting; ingress/egress for netdev and inet ingress); ``priority`` the
    number (lower runs first; the iptables tables stand at raw -300, mangle -150, nat
    -100/100, filter 0, security 150 on the same hooks); ``policy`` accept or drop; ``type``
    filter, nat or route; ``device`` the device of a netdev (or inet ingress) chain.
    ``layer`` says which hooks those are: ``ip`` (the IPv4/IPv6 hooks the iptables chains are
    on), ``bridge`` (the bridge family's hooks: frames crossing a Linux bridge, before and
    apart from the IP hooks), ``netdev`` (ingress/egress of ``device``: every packet of any
    protocol on it, before prerouting / after postrouting), ``arp`` (ARP packets: dropping them
    cuts IPv4 neighbour resolution, not the IP packets themselves). ``ip_families`` are the IP
    families whose packets (or, for arp, whose neighbours) it can affect.
    """

    family: str
    table: str
    chain: str
    hook: str
    priority: int | None
    policy: str | None
    type: str | None
    span: Span
    table_span: Span
    device: str | None
    layer: str
    ip_families: frozenset[int]
    rules: int

    @property
    def priority_text(self) -> str:
        """The priority as nft prints it (``filter``, ``filter + 10``, ``-90``)."""
        return priority_text(self.family, self.hook, self.priority)

    @property
    def describe(self) -> str:
        """``table inet filter chain input (hook input, priority filter, policy drop)``."""
        dev = f", device {self.device}" if self.device else ""
        return (f"table {self.family} {self.table} chain {self.chain} (hook {self.hook}{dev}, "
                f"priority {self.priority_text}, policy {self.policy or 'accept'})")


def nft_rulesets(dump: HostDump) -> list[NftRuleset]:
    """The nft sections to read: the text ones when the dump has any (``dnlint collect`` writes
    both forms of the same ruleset), else the JSON ones."""
    text = [rs for rs in dump.nft if rs.format == "text"]
    return text or [rs for rs in dump.nft if rs.format == "json"]


def nft_tables(dump: HostDump) -> list[NftTable]:
    """Every nft table of the dump once (the first section that shows a family+name wins)."""
    seen: set[tuple[str, str]] = set()
    out = []
    for rs in nft_rulesets(dump):
        for t in rs.tables:
            if (t.family, t.name) not in seen:
                seen.add((t.family, t.name))
                out.append(t)
    return out


def native_tables(dump: HostDump) -> list[NftTable]:
    """The tables holding at least one native base chain (see :func:`native_base_chains`)."""
    return [t for t in nft_tables(dump)
            if any(c.base and not is_iptables_nft_chain(t, c) for c in t.chains)]


def native_base_chains(dump: HostDump, family: int) -> list[NativeChain]:
    """The native nftables base chains that can act on packets of IP ``family`` (4 or 6).

    Returns one :class:`NativeChain` per base chain (a chain with ``type ... hook ...``) of
    the dump's ``nft list ruleset`` (text preferred, else ``nft -j``) that is not one of the
    base chains iptables-nft, ebtables-nft or arptables-nft create (:func:`is_iptables_nft_chain`),
    in the order of the listing, and only those whose ``ip_families`` hold ``family``: ip
    tables for 4, ip6 for 6, inet, bridge and netdev for both, arp for 4. A chain is returned
    whatever its rules and policy (an empty accept chain changes nothing, but the model cannot
    tell that from here: its rules are text). Regular chains (no hook) are never returned:
    they run only when a base chain jumps to them. An empty list when the dump has no nft
    section, or only iptables-nft's tables: the dump then says nothing against the iptables
    model.
    """
    out: list[NativeChain] = []
    for t in nft_tables(dump):
        fams = _FAMILY_IP.get(t.family, frozenset())
        if family not in fams:
            continue
        for c in t.chains:
            if not c.base or is_iptables_nft_chain(t, c):
                continue
            out.append(NativeChain(t.family, t.name, c.name, c.hook, c.priority, c.policy, c.type,
                                   c.span, t.span, c.device, _LAYER.get(t.family, "ip"), fams,
                                   len(c.rules)))
    return out


def _has_docker(dump: HostDump) -> bool:
    f = dump.facts
    return bool(f.docker_networks or f.docker_containers
                or any((p.program or "").startswith(("dockerd", "docker-proxy")) for p in f.processes)
                or any(i.name == "docker0" or i.name.startswith("br-") for i in f.interfaces))


def _empty_save_sections(dump: HostDump) -> list:
    """``iptables-save`` sections (named by a command) that hold no table at all."""
    from ..ir import SectionKind

    from ..ingest.commands import classify

    out = []
    for s in dump.sections:
        if s.kind is not SectionKind.SAVE or not s.command or s.note:
            continue
        if classify(s.command).backend == "legacy":
            continue  # iptables-legacy's tables are not nf_tables: nft never shows them
        if any(s.span.line < rs.span.line <= s.end_line for rs in dump.rulesets):
            continue
        if s.end_line > s.span.line and any(d.span and s.span.line < d.span.line <= s.end_line
                                            for d in dump.diagnostics if d.code in ("DN001", "DN011")):
            continue  # unreadable or failed, not empty
        out.append(s)
    return out


def native_nftables_diagnostics(dump: HostDump) -> list:
    """DN016: each table with native base chains, and an empty iptables-save beside a
    non-empty nft ruleset."""
    from ..diagnostics import diag

    out = []
    for t in native_tables(dump):
        chains = [c for c in t.chains if c.base and not is_iptables_nft_chain(t, c)]
        parts = []
        for c in chains:
            dev = f", device {c.device}" if c.device else ""
            parts.append(f"{c.name} (hook {c.hook}{dev}, priority {priority_text(t.family, c.hook, c.priority)}, "
                         f"policy {c.policy or 'accept'})")
        layer = {"bridge": " (bridge family: frames crossing a Linux bridge)",
                 "netdev": " (netdev family: every packet on the device)",
                 "arp": " (arp family: ARP packets, so IPv4 neighbour resolution)"}.get(t.family, "")
        noun = "base chains" if len(chains) > 1 else "a base chain"
        out.append(diag("DN016", f"table {t.family} {t.name} (line {t.span.line}){layer} registers {noun} the "
                                 f"iptables model does not see: {', '.join(parts)}; answers on paths through "
                                 f"{'these hooks' if len(chains) > 1 else 'this hook'} are unknown", t.span))
    tables = nft_tables(dump)
    complete = any(rs.complete for rs in nft_rulesets(dump))
    empty = _empty_save_sections(dump) if out else []
    if complete and empty:
        names = " and ".join(dict.fromkeys(f"`{s.command}`" for s in empty))
        verb = "are" if len(empty) > 1 else "is"
        why = (" (was Docker's iptables-nft ruleset flushed by an nftables.conf reload?)" if _has_docker(dump)
               else "")
        out.append(diag("DN016", f"{names} {verb} empty but nft list ruleset holds {len(tables)} "
                                 f"table{'s' if len(tables) != 1 else ''}: the firewall is native nftables{why}",
                        empty[0].span))
    return out
