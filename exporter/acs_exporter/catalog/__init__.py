"""The end-reason catalog: (code, subcode) -> category, message, advice, source link.

Public API (other modules import only these names):

    load_catalog(overrides=()) -> Catalog          # shipped data + user override files
    Catalog.resolve(code, subcode, service_category=None, domain=Domain.CALL_END) -> Resolution
    Catalog.entries -> tuple[Entry, ...]
    parse_code(value) -> int                        # raises MalformedCode
    parse_subcode(value) -> int | None              # None: no subcode (null, "", blanks)
    Category, Provenance, Domain, Entry, Resolution, MalformedCode, CatalogError
"""

from acs_exporter.catalog.api import *  # noqa: F403 (the public names are api.__all__)
from acs_exporter.catalog.api import __all__ as __all__
