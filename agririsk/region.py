"""``region.toml``: the one file that names every input of a region (CONTRACTS.md §1).

>>> region = Region.from_toml("sample/region.toml")     # doctest: +SKIP
>>> region.parcels_path, region.season.start              # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agririsk.errors import MissingFileError, RegionConfigError

__all__ = ["Region", "Season"]

# Every key region.toml may hold; anything else is a typo and an error.
_SCHEMA: dict[str, dict[str, type] | type] = {
    "name": str,
    "crs": str,
    "imagery": {"catalog": str, "collection": str},
    "parcels": {"path": str},
    "farmers": {"path": str},
    "weather": {"stations": str, "observations": str, "grid": str},
    "history": {"path": str},
    "season": {"start": dt.date, "end": dt.date},
}
_REQUIRED_SECTIONS = ("imagery", "parcels", "farmers", "weather", "season")


@dataclass(frozen=True)
class Season:
    """The season being financed or monitored: [start, end], both dates inclusive."""

    start: dt.date
    end: dt.date

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise RegionConfigError(
                f"season.end ({self.end}) must come after season.start ({self.start})."
            )

    def shifted_years(self, years: int) -> Season:
        """The same calendar window ``years`` earlier (negative) or later."""
        return Season(_shift_year(self.start, years), _shift_year(self.end, years))

    def contains(self, day: dt.date) -> bool:
        return self.start <= day <= self.end


def _shift_year(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


@dataclass(frozen=True)
class Region:
    """Every input of a region, as absolute paths (or URLs), read from ``region.toml``.

    Build it with :meth:`Region.from_toml`; the readers in :mod:`agririsk.inputs`,
    :mod:`agririsk.imagery` and :mod:`agririsk.weather` take it from there.
    """

    path: Path
    name: str
    crs: str | None
    imagery_catalog: str
    imagery_collection: str | None
    parcels_path: Path
    farmers_path: Path
    weather_stations: Path | None
    weather_observations: Path | None
    weather_grid: Path | None
    history_path: Path | None
    season: Season

    @property
    def root(self) -> Path:
        return self.path.parent

    def default_workspace(self) -> Path:
        """``.agririsk/`` beside region.toml (CONTRACTS.md §8)."""
        return self.root / ".agririsk"

    @property
    def catalog_is_url(self) -> bool:
        return self.imagery_catalog.startswith(("http://", "https://"))

    @classmethod
    def from_toml(cls, path: str | Path) -> Region:
        """Read and check ``region.toml``.

        Raises
        ------
        MissingFileError
            The file, or an input file it names, does not exist.
        RegionConfigError
            A key is unknown, a section or value is missing or of the wrong type.
        """
        path = Path(path).expanduser().resolve()
        if not path.is_file():
            raise MissingFileError(f"{path}: region file not found. Pass the path of a region.toml (CONTRACTS.md §1).")
        try:
            with path.open("rb") as fh:
                doc = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise RegionConfigError(f"{path}: not valid TOML ({exc}). Fix the syntax at that line.") from exc
        problems = _check_schema(doc)
        if problems:
            raise RegionConfigError(f"{path}: " + "; ".join(problems) + ".")
        root = path.parent

        def local(value: str | None, key: str, must_exist: bool = True) -> Path | None:
            if value is None:
                return None
            p = (root / value).resolve() if not Path(value).is_absolute() else Path(value)
            if must_exist and not p.exists():
                raise MissingFileError(
                    f"{path}: {key} = {value!r} points to {p}, which does not exist. "
                    "Fix the path (relative paths are relative to region.toml)."
                )
            return p

        weather = doc["weather"]
        if "grid" in weather and ("stations" in weather or "observations" in weather):
            raise RegionConfigError(
                f"{path}: [weather] gives both a grid and stations; choose one form (CONTRACTS.md §5)."
            )
        if "grid" not in weather and not ("stations" in weather and "observations" in weather):
            raise RegionConfigError(
                f"{path}: [weather] needs either grid = \"...nc\" or both stations and observations."
            )
        catalog = doc["imagery"].get("catalog")
        if catalog is None:
            raise RegionConfigError(f"{path}: [imagery] needs catalog = \"path/to/catalog.json\" or a STAC API URL.")
        if not catalog.startswith(("http://", "https://")):
            catalog = str(local(catalog, "imagery.catalog"))
        for section in ("parcels", "farmers"):
            if "path" not in doc[section]:
                raise RegionConfigError(f"{path}: [{section}] needs path = \"...\".")
        history = doc.get("history", {})
        season = doc["season"]
        if "start" not in season or "end" not in season:
            raise RegionConfigError(f"{path}: [season] needs start and end dates, e.g. start = 2026-04-15.")
        return cls(
            path=path,
            name=doc.get("name", path.parent.name),
            crs=doc.get("crs"),
            imagery_catalog=catalog,
            imagery_collection=doc["imagery"].get("collection"),
            parcels_path=local(doc["parcels"]["path"], "parcels.path"),  # type: ignore[arg-type]
            farmers_path=local(doc["farmers"]["path"], "farmers.path"),  # type: ignore[arg-type]
            weather_stations=local(weather.get("stations"), "weather.stations"),
            weather_observations=local(weather.get("observations"), "weather.observations"),
            weather_grid=local(weather.get("grid"), "weather.grid"),
            history_path=local(history.get("path"), "history.path"),
            season=Season(_as_date(season["start"]), _as_date(season["end"])),
        )


def _as_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(value)


def _check_schema(doc: dict[str, Any]) -> list[str]:
    problems = []
    for key, value in doc.items():
        spec = _SCHEMA.get(key)
        if spec is None:
            problems.append(f"unknown key {key!r} (allowed: {', '.join(_SCHEMA)})")
        elif isinstance(spec, dict):
            if not isinstance(value, dict):
                problems.append(f"{key!r} must be a [{key}] table")
                continue
            for sub, subvalue in value.items():
                if sub not in spec:
                    problems.append(f"unknown key {key}.{sub!r} (allowed in [{key}]: {', '.join(spec)})")
                elif not _is_type(subvalue, spec[sub]):
                    problems.append(f"{key}.{sub} must be {_type_name(spec[sub])}, got {subvalue!r}")
        elif not _is_type(value, spec):
            problems.append(f"{key} must be {_type_name(spec)}, got {value!r}")
    for section in _REQUIRED_SECTIONS:
        if section not in doc:
            problems.append(f"missing section [{section}] (CONTRACTS.md §1)")
    return problems


def _is_type(value: Any, kind: type) -> bool:
    if kind is dt.date:
        if isinstance(value, dt.date):  # a TOML date or datetime
            return True
        try:
            dt.date.fromisoformat(str(value))
        except ValueError:
            return False
        return True
    return isinstance(value, kind)


def _type_name(kind: type) -> str:
    return "a date (YYYY-MM-DD)" if kind is dt.date else "text (quoted)"
