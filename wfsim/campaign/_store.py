"""The results store: one SQLite file of campaigns and their runs.

Tables (``specs/campaign.md``, CAMP-6)::

    campaigns(id, started, finished, wall_seconds, scenarios, start_seed, seeds,
              options, stopped, wfsim_version)
    runs(campaign, scenario_hash, seed, status, passed, failures, digest,
         makespan_ns, wall_ms, stats, reused_from)

``scenarios`` is JSON (``[{"path", "abspath", "title", "hash"}]``), the hash being
the sha256 of the scenario file; ``failures`` and ``stats`` are JSON too. Runs
are buffered and written in one short transaction at least every second, so a killed
campaign loses at most that and campaigns sharing the file never wait on each
other for long (CAMP-10, CAMP-11). Anything SQLite or a damaged row raises
becomes one :class:`CampaignError` naming the file (CAMP-12).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import json
import os
import pathlib
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Concatenate, ParamSpec, TypeVar

import attrs

from wfsim._core._time import to_seconds
from wfsim._core._tracediff import StepChange, StepSummary, step_changes
from wfsim.errors import WfsimError

from ._coverage import universe_of_file
from ._explore import Exploration
from ._random import RandomFaults
from ._record import CampaignError, RunRecord, StoreRow
from ._summary import CampaignSummary, Tally

__all__ = ["CampaignDiff", "CampaignInfo", "CampaignStore", "ScenarioRef", "SeedChange"]

SCHEMA_VERSION = 1
#: Seconds between commits while a campaign runs.
COMMIT_EVERY = 1.0
#: Seconds a campaign waits for another one writing the same store (CAMP-11).
BUSY_TIMEOUT = 60.0
_TABLES = {"campaigns", "runs", "sqlite_sequence"}

_P = ParamSpec("_P")
_T = TypeVar("_T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS campaigns (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started TEXT NOT NULL,
    finished TEXT,
    wall_seconds REAL,
    scenarios TEXT NOT NULL,
    start_seed INTEGER NOT NULL,
    seeds INTEGER NOT NULL,
    options TEXT NOT NULL,
    stopped TEXT,
    wfsim_version TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    campaign INTEGER NOT NULL REFERENCES campaigns(id),
    scenario_hash TEXT NOT NULL,
    seed INTEGER NOT NULL,
    status TEXT NOT NULL,
    passed INTEGER NOT NULL,
    failures TEXT NOT NULL,
    digest TEXT NOT NULL,
    makespan_ns INTEGER NOT NULL,
    wall_ms REAL NOT NULL,
    stats TEXT NOT NULL,
    reused_from INTEGER,
    PRIMARY KEY (campaign, scenario_hash, seed)
);
CREATE INDEX IF NOT EXISTS runs_by_scenario ON runs (scenario_hash, seed);
"""


@attrs.frozen
class ScenarioRef:
    """A scenario file as a campaign recorded it: the path given, its title and hash."""

    path: str
    title: str
    scenario_hash: str
    abspath: str = ""

    def to_json(self) -> dict[str, str]:
        return {
            "path": self.path,
            "abspath": self.abspath or os.path.abspath(self.path),
            "title": self.title,
            "hash": self.scenario_hash,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, str]) -> ScenarioRef:
        return cls(data["path"], data["title"], data["hash"], data["abspath"])


@attrs.frozen
class CampaignInfo:
    """One row of ``wfsim campaigns list``: what a campaign ran and how it went."""

    id: int
    started: str
    finished: str | None
    wall_seconds: float | None
    scenarios: tuple[ScenarioRef, ...]
    start_seed: int
    seeds: int
    options: Mapping[str, Any]
    stopped: str | None
    wfsim_version: str
    runs: int
    failed: int
    reused: int

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "started": self.started,
            "finished": self.finished,
            "wall_seconds": self.wall_seconds,
            "scenarios": [s.to_json() for s in self.scenarios],
            "seeds": {"start": self.start_seed, "count": self.seeds},
            "options": dict(self.options),
            "stopped": self.stopped,
            "wfsim_version": self.wfsim_version,
            "runs": self.runs,
            "failed": self.failed,
            "reused": self.reused,
        }


@attrs.frozen
class SeedChange:
    """A seed whose outcome, status, failures or digest differ between two campaigns."""

    path: str
    seed: int
    before: RunRecord
    after: RunRecord

    @property
    def kind(self) -> str:
        """``newly_failing``, ``newly_passing``, ``failures`` (other keys), or ``digest``."""
        if self.before.passed != self.after.passed:
            return "newly_failing" if self.before.passed else "newly_passing"
        if self.before.failure_keys != self.after.failure_keys:
            return "failures"
        return "digest"

    @property
    def steps(self) -> tuple[StepChange, ...]:
        """The steps whose attempts or outcome changed, as ``wfsim diff`` reports them.

        Outcomes are compared only when both campaigns recorded them.
        """
        both = bool(self.before.outcomes) and bool(self.after.outcomes)
        return step_changes(_summaries(self.before, both), _summaries(self.after, both))

    def describe(self) -> str:
        b, a = self.before, self.after
        parts = []
        if b.passed != a.passed or b.failure_keys != a.failure_keys:
            parts.append(f"{_outcome(b)} -> {_outcome(a)}")
        if b.status != a.status:
            parts.append(f"status {b.status} -> {a.status}")
        if b.digest != a.digest:
            parts.append(f"digest {b.digest[:12] or '-'} -> {a.digest[:12] or '-'}")
        # The steps that changed, one line each under the seed's (as `wfsim diff` words them).
        steps = "".join(f"\n    {c.describe('before', 'after')}" for c in self.steps)
        return f"{self.path} seed {self.seed}: " + "; ".join(parts) + steps

    def to_json(self) -> dict[str, Any]:
        def side(r: RunRecord) -> dict[str, Any]:
            return {
                "status": r.status,
                "passed": r.passed,
                "failures": list(r.failure_keys),
                "trace_digest": r.digest,
                "makespan": to_seconds(r.makespan_ns),
            }

        return {
            "file": self.path,
            "seed": self.seed,
            "change": self.kind,
            "before": side(self.before),
            "after": side(self.after),
            "steps": [c.to_json() for c in self.steps],
        }


def _summaries(record: RunRecord, outcomes: bool) -> dict[str, StepSummary]:
    """A record's steps as :func:`step_changes` compares them (outcome None if not kept)."""
    names = dict.fromkeys([*record.outcomes, *record.attempts])
    return {
        name: StepSummary(
            record.attempts.get(name, 0), record.outcomes.get(name) if outcomes else None
        )
        for name in names
    }


def _outcome(record: RunRecord) -> str:
    return "passed" if record.passed else f"failed ({', '.join(record.failure_keys)})"


@attrs.frozen
class CampaignDiff:
    """Seeds run by both campaigns ``a`` and ``b`` (same scenario file, same seed) that changed.

    ``compared`` counts the seeds both ran; ``only_a`` and ``only_b`` those only one ran.
    """

    a: int
    b: int
    compared: int
    changes: tuple[SeedChange, ...]
    only_a: int
    only_b: int

    def to_json(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "compared": self.compared,
            "changed": len(self.changes),
            "only_a": self.only_a,
            "only_b": self.only_b,
            "changes": [c.to_json() for c in self.changes],
        }

    def format(self) -> str:
        kinds: dict[str, int] = {}
        for change in self.changes:
            kinds[change.kind] = kinds.get(change.kind, 0) + 1
        detail = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in sorted(kinds.items()))
        lines = [
            f"campaign {self.a} -> {self.b}: {self.compared} seeds in both, "
            f"{len(self.changes)} changed" + (f" ({detail})" if detail else "")
        ]
        if self.only_a or self.only_b:
            lines.append(f"seeds only in {self.a}: {self.only_a}; only in {self.b}: {self.only_b}")
        lines += [f"  {c.describe()}" for c in self.changes]
        return "\n".join(lines)


def _guarded(
    method: Callable[Concatenate[CampaignStore, _P], _T],
) -> Callable[Concatenate[CampaignStore, _P], _T]:
    """A :class:`CampaignStore` method whose SQLite and decoding errors name the file."""

    @functools.wraps(method)
    def guarded(store: CampaignStore, /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
        with store._errors():
            return method(store, *args, **kwargs)

    return guarded


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


class CampaignStore:
    """A campaign store file (SQLite). ``create=False`` refuses a missing file.

    Example::

        store = CampaignStore(".wfsim/campaigns.sqlite", create=False)
        for info in store.campaigns():
            print(info.id, info.runs, info.failed)
        print(store.diff(1, 2).format())

    Raises :class:`CampaignError` for a missing (with ``create=False``),
    unreadable, truncated or damaged file, an SQLite file of something else, a store
    written by an incompatible wfsim, and any SQLite error later (CAMP-12).
    """

    def __init__(self, path: str | os.PathLike[str], *, create: bool = True) -> None:
        self.path = os.fspath(path)
        target = pathlib.Path(self.path)
        if not create and not target.is_file():
            raise CampaignError(
                f"no campaign store at {self.path}: run `wfsim simulate` first, "
                "or name the directory it wrote with --out"
            )
        self._pending: list[tuple[Any, ...]] = []
        self._last_commit = time.monotonic()
        with self._errors():
            if create:
                target.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT)
            try:
                self._open(create)
            except BaseException:
                self._db.close()
                raise

    def _open(self, create: bool) -> None:
        self._db.row_factory = sqlite3.Row
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, SCHEMA_VERSION):
            raise CampaignError(
                f"{self.path}: campaign store version {version}, but this wfsim reads "
                f"version {SCHEMA_VERSION}; use another --out directory"
            )
        # SQLite itself notices a file cut at a page boundary; a cut inside a page
        # would read as a damaged last row.
        size = os.path.getsize(self.path)
        page = self._db.execute("PRAGMA page_size").fetchone()[0]
        if size % page:
            raise CampaignError(
                f"{self.path}: cannot use it as a campaign store: truncated ({size} bytes, "
                f"not a whole number of {page}-byte pages)"
            )
        tables = {
            row[0] for row in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        if tables - _TABLES:
            foreign = ", ".join(sorted(tables - _TABLES))
            raise CampaignError(
                f"{self.path}: not a campaign store (an SQLite file with tables {foreign}); "
                "use another --out directory"
            )
        if create:
            self._db.execute("PRAGMA synchronous=NORMAL")
        if create and version == 0:  # a new store (a store in use is never written here)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)
            self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            self._db.commit()
        self._db.execute("SELECT 1 FROM campaigns LIMIT 1")

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        """Turn what a damaged or unusable file raises into one line naming it (CAMP-12)."""
        try:
            yield
        except WfsimError:
            raise
        except (sqlite3.Error, OSError) as exc:
            raise CampaignError(f"{self.path}: cannot use it as a campaign store: {exc}") from exc
        except (json.JSONDecodeError, KeyError, TypeError) as exc:  # a row cut or overwritten
            raise CampaignError(
                f"{self.path}: damaged campaign store: a record does not read back "
                f"({type(exc).__name__}: {exc})"
            ) from exc

    def close(self) -> None:
        with self._errors():
            try:
                self._flush()
            finally:
                self._db.close()

    def __enter__(self) -> CampaignStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing ---------------------------------------------------------------------------

    @_guarded
    def start(
        self,
        scenarios: Sequence[ScenarioRef],
        start_seed: int,
        seeds: int,
        options: Mapping[str, Any],
        version: str,
    ) -> int:
        """Record a new campaign and return its id."""
        self._flush()
        cursor = self._db.execute(
            "INSERT INTO campaigns (started, scenarios, start_seed, seeds, options, "
            "wfsim_version) VALUES (?, ?, ?, ?, ?, ?)",
            (
                _now(),
                json.dumps([s.to_json() for s in scenarios]),
                start_seed,
                seeds,
                json.dumps(dict(options)),
                version,
            ),
        )
        self._db.commit()
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def add(
        self, campaign: int, records: Iterable[RunRecord], *, reused_from: int | None = None
    ) -> None:
        """Record runs of ``campaign`` (committed within :data:`COMMIT_EVERY` seconds)."""
        self.add_rows(campaign, [r.store_row() for r in records], reused_from=reused_from)

    @_guarded
    def add_rows(
        self, campaign: int, rows: Iterable[StoreRow], *, reused_from: int | None = None
    ) -> None:
        """Record runs of ``campaign`` given as :meth:`RunRecord.store_row` rows.

        The rows wait in memory and go in one short transaction, so a campaign
        holds the store's write lock for milliseconds, not between commits (CAMP-11).
        """
        self._pending += [(campaign, *row, reused_from) for row in rows]
        if time.monotonic() - self._last_commit >= COMMIT_EVERY:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            with self._db:  # one transaction: all of these rows or none
                self._db.executemany(
                    "INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    self._pending,
                )
            self._pending = []
        self._last_commit = time.monotonic()

    @_guarded
    def reuse(
        self,
        campaign: int,
        scenario_hash: str,
        seeds: range,
        random_faults: RandomFaults | None = None,
    ) -> list[RunRecord]:
        """Copy runs recorded by earlier campaigns for these seeds into ``campaign``.

        The latest recording of each seed wins; the copies name the campaign
        that ran them (``reused_from``). Only campaigns with the same random
        fault options (CAMP-30) count. Returns the reused records.
        """
        rows = self._db.execute(
            "SELECT *, COALESCE(reused_from, campaign) AS origin FROM runs "
            "WHERE scenario_hash = ? AND seed >= ? AND seed < ? AND campaign != ? "
            "ORDER BY campaign",
            (scenario_hash, seeds.start, seeds.stop, campaign),
        ).fetchall()
        wanted = None if random_faults is None else random_faults.to_json()
        same = {c: self._random_faults(c) == wanted for c in {row["campaign"] for row in rows}}
        latest = {row["seed"]: row for row in rows if same[row["campaign"]]}
        by_origin: dict[int, list[RunRecord]] = {}
        for row in latest.values():
            by_origin.setdefault(row["origin"], []).append(RunRecord.from_row(row))
        for origin, records in by_origin.items():
            self.add(campaign, records, reused_from=origin)
        return [r for records in by_origin.values() for r in records]

    @_guarded
    def finish(self, campaign: int, wall_seconds: float, stopped: str | None) -> None:
        self._flush()
        self._db.execute(
            "UPDATE campaigns SET finished = ?, wall_seconds = ?, stopped = ? WHERE id = ?",
            (_now(), wall_seconds, stopped, campaign),
        )
        self._db.commit()

    # -- reading ---------------------------------------------------------------------------

    @_guarded
    def campaigns(self) -> list[CampaignInfo]:
        """Every campaign in the store, oldest first."""
        self._flush()  # this store's own runs read back at once
        rows = self._db.execute(
            "SELECT c.*, COUNT(r.seed) AS runs, COALESCE(SUM(1 - r.passed), 0) AS failed, "
            "COUNT(r.reused_from) AS reused FROM campaigns c "
            "LEFT JOIN runs r ON r.campaign = c.id GROUP BY c.id ORDER BY c.id"
        ).fetchall()
        return [self._info(row) for row in rows]

    @_guarded
    def campaign(self, campaign: int) -> CampaignInfo:
        """One campaign; raises :class:`CampaignError` naming the known ids if it is not there."""
        for info in self.campaigns():
            if info.id == campaign:
                return info
        known = ", ".join(str(i.id) for i in self.campaigns()) or "none"
        raise CampaignError(f"{self.path}: no campaign {campaign} (campaigns: {known})")

    @staticmethod
    def _info(row: sqlite3.Row) -> CampaignInfo:
        return CampaignInfo(
            id=row["id"],
            started=row["started"],
            finished=row["finished"],
            wall_seconds=row["wall_seconds"],
            scenarios=tuple(ScenarioRef.from_json(s) for s in json.loads(row["scenarios"])),
            start_seed=row["start_seed"],
            seeds=row["seeds"],
            options=json.loads(row["options"]),
            stopped=row["stopped"],
            wfsim_version=row["wfsim_version"],
            runs=row["runs"],
            failed=row["failed"],
            reused=row["reused"],
        )

    @_guarded
    def runs(self, campaign: int) -> list[RunRecord]:
        """Every run ``campaign`` recorded, by scenario hash and seed."""
        self.campaign(campaign)
        rows = self._db.execute(
            "SELECT * FROM runs WHERE campaign = ? ORDER BY scenario_hash, seed", (campaign,)
        ).fetchall()
        return [RunRecord.from_row(row) for row in rows]

    def _random_faults(self, campaign: int) -> Any:
        row = self._db.execute("SELECT options FROM campaigns WHERE id = ?", (campaign,)).fetchone()
        return json.loads(row["options"]).get("random_faults") if row else None

    @_guarded
    def summary(self, campaign: int) -> CampaignSummary:
        """Rebuild the report of a recorded campaign (``wfsim campaigns show``)."""
        info = self.campaign(campaign)
        random = info.options.get("random_faults")
        options = "" if not random else RandomFaults.from_json(random).options
        explored = info.options.get("exploration")
        if explored:  # a campaign with --schedule, --chaos-phase or --liveness-bound
            options += Exploration.from_json(explored).options
        tallies = {
            s.scenario_hash: Tally(
                s.path,
                s.title,
                s.scenario_hash,
                universe=universe_of_file(s.abspath or s.path, s.scenario_hash),
                replay_options=options,
            )
            for s in info.scenarios
        }
        for record in self.runs(campaign):
            tallies[record.scenario_hash].add(record)
        return CampaignSummary(
            campaign_id=info.id,
            store=self.path,
            start_seed=info.start_seed,
            seeds=info.seeds,
            workers=int(info.options.get("workers", 1)),
            scenarios=tuple(t.summary() for t in tallies.values()),
            reused=info.reused,
            stopped=info.stopped,
            wall_seconds=info.wall_seconds or 0.0,
            dask=info.options.get("dask"),
        )

    @_guarded
    def diff(self, a: int, b: int) -> CampaignDiff:
        """The seeds whose outcome, status, failures or digest changed from ``a`` to ``b``.

        Runs are matched by scenario file (its absolute path, so an edited file
        still matches) and seed.
        """

        def keyed(campaign: int) -> dict[tuple[str, int], tuple[str, RunRecord]]:
            refs = {s.scenario_hash: s for s in self.campaign(campaign).scenarios}
            return {
                (refs[r.scenario_hash].abspath, r.seed): (refs[r.scenario_hash].path, r)
                for r in self.runs(campaign)
            }

        before, after = keyed(a), keyed(b)
        common = sorted(before.keys() & after.keys())
        changes = []
        for key in common:
            (_, old), (path, new) = before[key], after[key]
            if (old.status, old.failure_keys, old.digest) != (
                new.status,
                new.failure_keys,
                new.digest,
            ):
                changes.append(SeedChange(path, key[1], old, new))
        return CampaignDiff(
            a,
            b,
            len(common),
            tuple(changes),
            len(before.keys() - after.keys()),
            len(after.keys() - before.keys()),
        )
