"""The records one stage hands the next: frozen and typed, and written to files as plain dicts."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # records name these types; importing them here would load the models
    import pandas as pd

    from models.backtest import BacktestResult
    from models.grader import GraderConfig, RiskGrader
    from models.hotspots import H3Cells, PolygonCells
    from models.promotion import PromotionDecision
    from pipelines.ingest import IngestResult


@dataclass(frozen=True)
class ModelInfo:
    """What the outputs say about the model that scored a night."""

    name: str
    version: str
    uri: str = ""
    data_cutoff: str = ""
    backtest: dict = field(default_factory=dict)  # {model: {"macro_f1": .., "log_loss": ..}}
    task: str = "risk"  # risk: 高/中/低 grades and tickets; classes: another label (a dispute type)
    target: str = "risk_grade"
    classes: tuple[str, ...] = ()

    @property
    def risk(self) -> bool:
        return self.task == "risk"

    @classmethod
    def of(cls, grader, name: str, version: str, alias: str, backtest: dict) -> ModelInfo:
        """Return the record of a loaded grader, registered as name/version behind alias."""
        return cls(
            name=name,
            version=version,
            uri=f"models:/{name}@{alias}",
            data_cutoff=grader.training_["data_cutoff"],
            backtest=backtest,
            task="risk" if grader.ordinal_ else "classes",
            target=grader.config.target.removeprefix("label:"),
            classes=tuple(grader.classes_),
        )

    def as_dict(self) -> dict:
        return {**asdict(self), "classes": list(self.classes)}

    @classmethod
    def from_dict(cls, values: dict) -> ModelInfo:
        """Return the record as staged (meta.json); keys it does not know are ignored."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in values.items() if k in known}
        return cls(**{**values, "classes": tuple(values.get("classes", ()))})


@dataclass(frozen=True, eq=False)
class TrainRequest:
    """What to train and how to judge it: the grader's configuration (the red-ticket capacity
    included), the registered model's name, and the backtest to run before promotion."""

    config: GraderConfig
    model_name: str
    oracle: pd.DataFrame | None = None  # the demo's true risks: the backtest's oracle row
    backtest: bool = True  # without one the model is registered but never promoted
    baselines: bool = True  # the backtest's TF-IDF and checklist rows, which promotion compares


@dataclass(frozen=True, eq=False)
class TrainOutcome:
    """What a training run produced."""

    model_name: str
    version: str
    decision: PromotionDecision
    backtest: BacktestResult | None
    training: dict = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class ScoredNight:
    """Day D scored, ready to stage: the night's cases with their context, the grader's
    predictions, what was read, the model that scored it and the seconds each stage took."""

    run_date: pd.Timestamp
    cases: pd.DataFrame
    predictions: pd.DataFrame
    ingested: IngestResult
    grader: RiskGrader
    model: ModelInfo
    timings: dict


@dataclass(frozen=True)
class PublishOptions:
    """How a day is published: built once per run from the settings and the command's options."""

    coordinates: str = "wgs84"  # the feed's: wgs84, or gcj02 for AutoNavi/Tencent base maps
    tiles: str | None = None  # base-tile URL template for map.html; None: no tiles
    boundaries: str | None = None  # a GeoJSON of the centre's own polygons; None: H3 hexagons
    boundary_id: str = "name"  # the property that names each polygon
    resolution: int = 8  # of the H3 hexagons
    window_days: int = 28  # of cases the Gi* hot spots count
    trend_weeks: int = 10  # of the emerging hot-spot trend
    # Where the map keeps its county outlines; None: made each time.
    map_cache: Path | None = None

    def cells(self) -> H3Cells | PolygonCells:
        """Return the hot-spot cells: the centre's polygons if given, else H3 hexagons."""
        from models.hotspots import H3Cells, PolygonCells

        if self.boundaries:
            return PolygonCells.from_geojson(self.boundaries, self.boundary_id)
        return H3Cells(self.resolution)
