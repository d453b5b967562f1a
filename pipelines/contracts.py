"""The records one stage hands the next: frozen and typed, and written to files as plain dicts."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields


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
