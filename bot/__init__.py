"""tokenbot: the Slack side of a company's AI gateway."""
