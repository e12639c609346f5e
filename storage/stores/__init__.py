"""One store per aggregate (ledger, org, requests, alerts, billing, ...): all SQL of tokenbot lives here."""
