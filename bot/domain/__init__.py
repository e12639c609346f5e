"""Pure types and rules, no I/O and no framework: usage events and their validation, prices, the org model, budgets,
request policy, spike detection, digest figures, formatting. Everything else may import this; it imports nothing of
tokenbot's outside itself."""
