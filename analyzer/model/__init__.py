"""Netfilter semantics over the IR: the host, its routes and sysctls, and a packet's path."""
