"""Reading centres' exports: readers, column mapping, validation, quarantine and pseudonymisation."""

from pipelines.ingest.core import CASE_COLUMNS, IngestResult, ingest_file
from pipelines.ingest.mapping import ColumnMapping, MappingError, load_mapping
from pipelines.ingest.readers import InputError

__all__ = [
    "CASE_COLUMNS",
    "ColumnMapping",
    "IngestResult",
    "InputError",
    "MappingError",
    "ingest_file",
    "load_mapping",
]
