"""The database schema, one module per area (core: org and ledger; requests; ingest; alerts; billing). Importing this
package registers every table on `storage.tables.core.metadata`: a new area adds one import line here."""
from storage.tables import core  # noqa: F401
from storage.tables import requests  # noqa: F401
from storage.tables import ingest  # noqa: F401
from storage.tables import alerts  # noqa: F401
from storage.tables import billing  # noqa: F401
from storage.tables import slack  # noqa: F401
from storage.tables import otlp  # noqa: F401
from storage.tables import outcomes  # noqa: F401
