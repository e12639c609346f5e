"""Storage: the schema, the engine, and small stores with the queries the bot needs."""
