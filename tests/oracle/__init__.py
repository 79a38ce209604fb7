"""Kernel and Docker oracles: real namespaces, real dockerd, real probes."""
