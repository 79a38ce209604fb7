"""Kernel oracle for `dnlint matrix --space` (tests/oracle/space_oracle.py): random FORWARD rule
sets on a router namespace; one SYN per pair of classes and per class boundary, each forwarded or
not exactly as the matrix says. DNLINT_ORACLE_SPACE_CASES cases (default 4); RULEGEN_SEED replays
(case i uses seed + 7919 * i)."""

from __future__ import annotations

import os

import pytest

from netns import requires_netns
from oracle import differential as D
from oracle.space_oracle import make_rules

CASES = int(os.environ.get("DNLINT_ORACLE_SPACE_CASES", "4"))


def test_space_rulegen_is_deterministic_and_covers_its_constructs():
    assert make_rules(5) == make_rules(5) and make_rules(5) != make_rules(6)
    text = "".join(make_rules(s) for s in range(200))
    for needle in (" -g U", " -j RETURN", "! -s ", "-m iprange", "-m multiport", "-i f0", "! -i f0", "-o f1",
                   "--syn", "--ctstate NEW", "--sport 10000", "-j REJECT", "-m limit", ":FORWARD ACCEPT"):
        assert needle in text, needle


def _campaign(run, offset: int) -> tuple[list, list[str]]:
    """CASES cases of ``run`` (case i uses the base seed + 7919 * i + ``offset``), each summary printed;
    the cases and their first disagreements."""
    base = D.seed_from_env()
    cases, bad = [], []
    for i in range(CASES):
        r = run(base + 7919 * i + offset)
        print(r.summary())
        cases.append(r)
        bad += [f"seed {r.seed}: {d}" for d in r.disagreements[:5]]
    return cases, bad


@requires_netns
@pytest.mark.netns
def test_space_oracle_the_kernel_forwards_exactly_the_accepted_pairs():
    from oracle.space_oracle import run_space_case

    print(f"space oracle: RULEGEN_SEED={D.seed_from_env()}, {CASES} cases")
    cases, bad = _campaign(run_space_case, 0)
    agree = sum(r.agree for r in cases)
    print(f"space oracle: {sum(r.probes for r in cases)} probes, {agree} agree")
    assert agree > 0 and not bad, "\n".join(bad[:20])


@requires_netns
@pytest.mark.netns
def test_space_oracle_full_path_translations_are_what_the_far_side_sees():
    """The NAT-aware full path: DNAT in PREROUTING (and a user chain), MASQUERADE/SNAT out of f1;
    the matrix from the router's own collected dump; each accepted pair must arrive with the
    addresses and port its edge's translations name."""
    from oracle.space_oracle import run_space_case

    cases, bad = _campaign(lambda seed: run_space_case(seed, full=True), 1)
    agree = sum(r.agree for r in cases)
    print(f"space oracle (full path): {sum(r.probes for r in cases)} probes, {agree} agree")
    assert agree > 0 and not bad, "\n".join(bad[:20])


@requires_netns
@pytest.mark.netns
@pytest.mark.parametrize("full", [False, True], ids=["forward", "full"])
def test_diff_oracle_the_probes_that_change_on_the_kernel_are_the_diffs(full):
    """`dnlint diff` on random edits (a rule added, removed, moved, its target changed, a DNAT
    retargeted): probes sampled in every class pair of the diff's partition, on the kernel with OLD
    and with NEW; a probe's outcome changes exactly when its pair is a changed class."""
    from oracle.space_oracle import run_diff_case

    cases, bad = _campaign(lambda seed: run_diff_case(seed, full=full), 2 + full)
    probes = sum(r.probes for r in cases)
    print(f"diff oracle ({'full' if full else 'forward'}): {CASES} pairs, {probes} probes, "
          f"{sum(r.changed_probes for r in cases)} in changed classes")
    assert probes > 0 and not bad, "\n".join(bad[:20])
