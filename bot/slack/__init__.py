"""The only code that talks to Slack: the client, identity look-ups, the outbox every post, update, DM, ephemeral and
view goes through, and the Block Kit builders (blocks/)."""
