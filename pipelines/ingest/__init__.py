"""Reading centres' exports: readers, column mapping, validation, quarantine and pseudonymisation."""

from pathlib import Path

from pipelines.ingest.core import (
    CASE_COLUMNS,
    IngestResult,
    combine,
    ingest_file,
    mask_names_elsewhere,
)
from pipelines.ingest.mapping import ColumnMapping, MappingError, load_mapping
from pipelines.ingest.readers import InputError

__all__ = [
    "CASE_COLUMNS",
    "ColumnMapping",
    "IngestResult",
    "InputError",
    "MappingError",
    "combine",
    "export_specs",
    "ingest_file",
    "load_mapping",
    "mask_names_elsewhere",
]


def export_specs(
    cases: str | list[str], mapping: str | None = None
) -> list[tuple[Path, Path | None]]:
    """Return (export, mapping) pairs from FILE or FILE:MAPPING.yaml specs; `mapping` serves every
    export that names none of its own."""
    out = []
    for spec in [cases] if isinstance(cases, str) else cases:
        path, _, own = str(spec).rpartition(":")
        if path and own.lower().endswith((".yaml", ".yml")):
            out.append((Path(path), Path(own)))
        else:
            out.append((Path(spec), Path(mapping) if mapping else None))
    return out
