"""`python -m bot.cli …`: the `tokenbot` command (test replicas and benchmarks start it this way)."""
from bot.cli.main import main

raise SystemExit(main())
