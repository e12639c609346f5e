"""Importing this module registers every table on `storage.schema.metadata`.

Feature areas keep their tables in their own modules (storage/schema_<area>.py); add one import line here."""
from storage import schema  # noqa: F401
from storage import schema_requests  # noqa: F401,E402
from storage import schema_ingest  # noqa: F401,E402
from storage import schema_alerts  # noqa: F401,E402
from storage import schema_billing  # noqa: F401,E402
