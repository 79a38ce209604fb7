"""tests/oracle/fetch_dockerd.py without the network: which source it takes, that every apt
state directory is its own, and how it fails. (.ci/run runs the real fetch; the live Docker
oracle runs what it fetched.)"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from oracle import fetch_dockerd as F

DEB822 = """Types: deb
# a comment
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""

ONE_LINE = """# deb http://old.example/debian buster main
deb [arch=amd64 signed-by=/etc/apt/keyrings/other.gpg] https://vendor.example/apt stable contrib
deb http://security.example/debian-security bookworm-security main
deb [signed-by=/etc/apt/keyrings/mirror.gpg] http://mirror.example/debian/ bookworm main contrib
"""


def test_sources_entries_in_both_formats():
    assert list(F._entries(DEB822, deb822=True)) == [
        ("http://mirror.example/debian", ["bookworm", "bookworm-updates"], ["main"],
         "/usr/share/keyrings/debian-archive-keyring.gpg"),
        ("http://mirror.example/debian-security", ["bookworm-security"], ["main"],
         "/usr/share/keyrings/debian-archive-keyring.gpg")]
    assert [e[:2] for e in F._entries(ONE_LINE, deb822=False)] == [
        ("https://vendor.example/apt", ["stable"]), ("http://security.example/debian-security", ["bookworm-security"]),
        ("http://mirror.example/debian/", ["bookworm"])]


def test_the_system_mirror_is_the_first_debian_release_source(tmp_path, monkeypatch):
    lst, sources = tmp_path / "a.list", tmp_path / "debian.sources"
    lst.write_text(ONE_LINE)
    sources.write_text(DEB822)
    monkeypatch.setattr(F, "_sources_files", lambda: [str(lst), str(sources)])
    # the vendor source has no main, the security one is not a release
    assert F.system_mirror() == ("http://mirror.example/debian", "/etc/apt/keyrings/mirror.gpg")
    monkeypatch.setattr(F, "_sources_files", lambda: [str(sources)])
    assert F.system_mirror() == ("http://mirror.example/debian", "/usr/share/keyrings/debian-archive-keyring.gpg")
    monkeypatch.setattr(F, "_sources_files", lambda: [])
    with pytest.raises(F.FetchError, match="--mirror"):
        F.system_mirror()


def test_apt_state_is_private(tmp_path):
    apt = F.PrivateApt(tmp_path / "apt", "http://mirror.example/debian", F.KEYRING, "unstable")
    assert (tmp_path / "apt/etc/sources.list").read_text() == \
        f"deb [signed-by={F.KEYRING}] http://mirror.example/debian unstable main\n"
    dirs = {o.split("=", 1)[0]: o.split("=", 1)[1] for o in apt.options if o.startswith("Dir::")}
    assert set(dirs) >= {"Dir::Etc::SourceList", "Dir::Etc::SourceParts", "Dir::Etc::Preferences",
                         "Dir::Etc::PreferencesParts", "Dir::State::Lists", "Dir::State::status", "Dir::Cache"}
    assert all(Path(v).is_relative_to(tmp_path) for v in dirs.values()), dirs
    assert (tmp_path / "apt/status").read_text() == ""  # no installed packages: nothing is "already there"


def test_fetch_fails_with_a_sentence(tmp_path, capsys):
    with pytest.raises(F.FetchError, match="nothing fetched"):
        F.fetch(tmp_path / "none", offline=True)
    assert F.main([str(tmp_path / "none"), "--offline"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("fetch_dockerd: --offline: nothing fetched")  # .ci/run reports this line


def test_an_unpacked_tree_is_checked(tmp_path):
    root = tmp_path / "root"
    with pytest.raises(F.FetchError, match="missing after unpacking"):
        F._check(root)
    for rel in ("usr/sbin/dockerd", "usr/sbin/docker-proxy", "usr/bin/docker"):
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("#!/bin/sh\necho 'Docker version 28.5.2+dfsg4, build x'\n")
        p.chmod(0o755)
    assert F._check(root).startswith("Docker version 28.")
    assert F.bin_dirs(root) == [str(root / "usr/sbin"), str(root / "usr/bin")]
    assert os.pathsep.join(F.bin_dirs(root)).count(os.pathsep) == 1
