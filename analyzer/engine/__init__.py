"""The z3 reachability engine: symbolic packets through the model, witnesses and blockers."""
