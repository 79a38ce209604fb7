"""The lint catalog: one module per code (``dn101_jump_to_missing_chain.py``), found by :func:`registry`.

A check module defines one subclass of :class:`~dnlint.checks.base.Check` whose docstring is
its documentation, under the fixed headings of :data:`~dnlint.checks.base.DOC_HEADINGS`
(printed by ``dnlint rule CODE``).
"""
