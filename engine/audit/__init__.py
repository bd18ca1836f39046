"""Audit: history, time-travel replay, tamper evidence, re-derivation, bundles, diff, prune.

Modules, one concept each: `source` (database or bundle), `history`, `replay`, `chain` and
`verify` (hash chains and checks), `rederive` (the operator re-run), `bundle`, `diff`, `prune`.
"""
