"""One what-if analysis, headless: the Recommendations page's steps as library calls.

The split, the head/tail bands, the model's candidate lists, the tail-boost re-ranking, the KPIs
against the collaborative baseline, the trade-off curves and per-user explanations, exactly as the
page computes them (models fitted on training minus validation; every figure on validation, never
on test). :mod:`recsys.report.html` turns an :class:`Analysis` into the stakeholder report.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from recsys.data import popularity, segments
from recsys.data.dataset import Dataset
from recsys.data.popularity import Rule
from recsys.evaluation import protocol
from recsys.evaluation.protocol import Experiment
from recsys.evaluation.split import SplitKind
from recsys.models import TrainData
from recsys.models.scope import SCOPE_HELP, CandidateScope, Scope
from recsys.runs.folder import RunFolder
from recsys.whatif import explain, rerank, scorers
from recsys.whatif.rerank import Candidates, Reranked, Strategy

# The collaborative baseline every KPI is compared with: EASE while its items x items fits the
# memory budget, else what the hybrid picks by size (baseline_model).
BASELINE = "ease"
SAMPLE_USERS = 2_000  # KPIs, curves and lists over a seeded sample of users past this many
SEGMENT_ORDER = [("heavy", "niche"), ("light", "mainstream"), ("heavy", "mainstream"),
                 ("light", "niche")]  # fmt: skip
MODEL_LABELS = {
    scorers.BLEND: "EASE + TF-IDF blend",
    scorers.HYBRID_FROZEN: "Hybrid: EASE + frozen MiniLM",
    "ease": "EASE",
    "itemknn": "ItemKNN",
    "als": "ALS",
    "tfidf": "TF-IDF (content)",
    "mostpop": "Most popular",
    "content": "Frozen MiniLM content",
    "ease_content": "EASE + MiniLM content",
}


@dataclass(frozen=True)
class UploadedFile:
    """One uploaded file as the analyst knows it: the name they uploaded and its content hash."""

    role: str  # "interactions" or "items"
    name: str  # the uploaded file's own name (never the server's cache path)
    sha256: str  # first 12 hex digits of the SHA-256 of its bytes

    @classmethod
    def of(cls, role: str, name: str, path: str | Path) -> UploadedFile:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        return cls(role, Path(name).name, digest.hexdigest()[:12])


@dataclass(frozen=True)
class Upload:
    """A CSV/Parquet pair (the Data page's upload, or the CLI's ``--interactions/--items``) and
    how it was read: what the report needs to say so anyone with the same files can redo it."""

    interactions: UploadedFile
    items: UploadedFile
    columns: tuple[tuple[str, str], ...] = ()  # (canonical name, column): user, item, rating...
    item_column: str | None = None
    text_columns: tuple[str, ...] = ()
    options: tuple[tuple[str, str], ...] = ()  # unknown_items, duplicates


@dataclass(frozen=True)
class Settings:
    """Everything that changes an analysis; a report prints these so anyone can redo it."""

    data: str = "sample"  # "sample" or a MovieLens folder (the CLI); any name for a Dataset given
    model: str = scorers.BLEND  # a page choice: blend, hybrid_frozen, hybrid_run:<folder>, a name
    strategy: Strategy = "penalty"
    boost: float = 0.0
    k: int = 10
    head_rule: Rule = "top_share"
    head_value: float | None = None  # None: the rule's default (popularity.DEFAULT_VALUES)
    seed: int = 0
    users: tuple[str, ...] = ()  # example users; empty: one per segment, chosen by rule
    # judged users with held-out items past which KPIs, curves and lists are computed over a
    # seeded sample of them (rerank.user_sample); 0: every user, whatever the size
    sample_users: int = SAMPLE_USERS
    scope: Scope = "all"  # candidate scope (recsys.models.scope): all, tail or cold (new items)
    upload: Upload | None = None  # data from uploaded files: their names and hashes, not paths

    def __post_init__(self) -> None:
        if self.strategy not in rerank.STRATEGIES:
            raise ValueError(
                f"strategy must be one of {list(rerank.STRATEGIES)}, got {self.strategy!r}"
            )
        if not 0.0 <= self.boost <= 1.0:  # also refuses nan
            raise ValueError(f"boost must lie in [0, 1], got {self.boost!r}")
        if self.k < 1:
            raise ValueError(f"k must be at least 1, got {self.k}")
        if self.sample_users < 0:
            raise ValueError(f"sample_users must be 0 (all) or more, got {self.sample_users}")
        if self.head_rule not in popularity.RULES:
            raise ValueError(
                f"head rule must be one of {list(popularity.RULES)}, got {self.head_rule!r}"
            )
        _ = self.candidate_scope  # refuses an unknown scope or a bad head value
        if self.scope == "cold" and not scorers.scores_cold_items(self.model):
            raise ValueError(scope_refusal(self.model))

    @property
    def candidate_scope(self) -> CandidateScope:
        return CandidateScope(self.scope, self.head_rule, self.head_value)

    @property
    def head(self) -> float:
        value = self.head_value
        return popularity.DEFAULT_VALUES[self.head_rule] if value is None else float(value)

    @property
    def model_label(self) -> str:
        return model_label(self.model)


@dataclass
class Analysis:
    """A fitted what-if: candidates and re-ranked lists of the model and of the baseline."""

    settings: Settings
    dataset: Dataset
    experiment: Experiment
    groups: np.ndarray  # (I,) bands under the settings' head rule, from training counts
    candidates: Candidates
    ranked: Reranked
    baseline: Candidates | None  # None under the cold scope: EASE cannot rank new items
    baseline_ranked: Reranked | None  # the baseline at the same strategy and boost
    baseline_model: str = BASELINE  # which collaborative model the baseline is (baseline_model)

    @property
    def baseline_label(self) -> str:
        return f"{MODEL_LABELS[self.baseline_model]} (baseline)"

    @property
    def scope_mask(self) -> np.ndarray:
        return self.settings.candidate_scope.mask(self.experiment.tuning.counts)

    @property
    def user_ids(self) -> list[str]:
        return [str(u) for u in self.experiment.index.user_ids]

    @property
    def holdout(self):
        """Validation positives within the scope (all of them under ``all``)."""
        return scoped_holdout(self.experiment.tuning.holdout, self.scope_mask)

    def kpis(self) -> pd.DataFrame:
        """One row per list (model / baseline, no boost / chosen boost), one column per KPI."""
        s, k = self.settings, self.settings.k
        rows = {
            f"{s.model_label}, boost {s.boost:g}": self.ranked.items,
            f"{s.model_label}, no boost": rerank.rerank(self.candidates, s.strategy, 0.0, k).items,
        }
        if self.baseline is not None and self.baseline_ranked is not None:
            rows[f"{self.baseline_label}, boost {s.boost:g}"] = self.baseline_ranked.items
            rows[f"{self.baseline_label}, no boost"] = rerank.rerank(
                self.baseline, s.strategy, 0.0, k
            ).items
        table = {}
        for name, items in rows.items():
            cands = self.baseline if "baseline" in name and self.baseline else self.candidates
            metrics = rerank.list_metrics(items, cands, self.holdout, k)
            table[name] = {
                label: metrics[key.format(k=k)] for label, key in rerank.KPI_KEYS.items()
            }
        return pd.DataFrame(table).T

    def curves(self) -> dict[str, pd.DataFrame]:
        """The trade-off sweep (every strategy, boost 0 -> 1) of the model and the baseline."""
        k = self.settings.k
        out = {self.settings.model_label: rerank.tradeoff(self.candidates, self.holdout, k)}
        if self.baseline is not None:
            out[self.baseline_label] = rerank.tradeoff(self.baseline, self.holdout, k)
        return out

    def example_users(self, n: int = 3) -> list[int]:
        """The settings' users, else the most typical user of ``n`` segments.

        Segments by activity x taste (:func:`recsys.data.segments.user_segments`); within each,
        the user whose history length is the segment's median (ties: first in index order), so
        the choice is reproducible and not cherry-picked. Where the candidates hold a sample of
        users, the choice is among them. Returns user positions.
        """
        ids = self.user_ids
        if self.settings.users:
            missing = [u for u in self.settings.users if u not in ids]
            if missing:
                shown = ", ".join(repr(u[:40]) for u in missing[:3])
                raise ValueError(f"unknown user(s) {shown}: not in {self.dataset.name!r}")
            return [ids.index(u) for u in self.settings.users]
        table = segments.user_segments(self.experiment.tuning.train, self.groups)
        scored = np.diff(self.holdout.indptr) > 0  # users with validation items
        if self.candidates.users is not None:
            scored &= np.isin(np.arange(len(scored)), self.candidates.users)
        chosen = []
        for activity, taste in SEGMENT_ORDER:
            rows = table[(table["activity"] == activity) & (table["taste"] == taste) & scored]
            if len(rows):
                median = rows["n_history"].median()
                chosen.append(int((rows["n_history"] - median).abs().idxmin()))
            if len(chosen) == n:
                break
        return chosen

    def explain(self, user: int) -> pd.DataFrame:
        """The user's list with score parts, ranks before/after boost and why (one row an item);
        ``user``: a position with candidates (every user, or one of the sample)."""
        data, index = self.dataset, self.experiment.index
        row = self.candidates.row(user)
        if row is None:
            raise ValueError(f"user {index.user_ids[user]!r} is not in the analysis' user sample")
        history = self.experiment.tuning.train[user].indices
        found = explain.explain_user(
            row,
            self.candidates,
            self.ranked,
            history,
            self.similarities(),
            terms=lambda pos: explain.item_terms(data.items, data.text_columns, pos),
        )
        return explain.explanations_frame(found, index.item_ids, titles(data))

    def similarities(self) -> dict:
        """Item-item cosine and text cosine (a run's embeddings, else TF-IDF) for explanations."""
        if not hasattr(self, "_similarities"):
            stage = self.experiment.tuning
            sims = {explain.ITEM_ITEM: explain.cooccurrence(stage.train)}
            sims.update(
                text_similarity(
                    scorers.run_folder(self.settings.model), self.experiment, stage.text
                )
            )
            self._similarities = sims
        return self._similarities


def text_similarity(run: str | None, experiment: Experiment, texts) -> dict:
    """``{"embedding (RUN)": cosine}`` of a run's item embeddings when they cover the catalogue,
    else ``{"text": TF-IDF cosine}``: the text similarity explanations and audiences cite."""
    loaded = RunFolder(run).load_item_embeddings() if run else None
    if loaded is not None and run is not None:
        rows = pd.Index(loaded[1]).get_indexer(list(experiment.index.item_ids))
        if (rows >= 0).all():
            return {f"embedding ({Path(run).name})": explain.cosine(loaded[0][rows])}
    return {"text": explain.cosine(explain.tfidf_vectors(texts))}


def baseline_model(train) -> str:
    """The collaborative baseline for a training matrix: EASE while its items x items fits the
    memory budget, else ItemKNN, else ALS (:func:`recsys.models.hybrid.pick_collaborative`, the
    rule the hybrid picks its own collaborative part by, so the two stay comparable)."""
    from recsys.models.hybrid import pick_collaborative

    return pick_collaborative(train)[0]


def user_sample(experiment: Experiment, settings: Settings, also=()) -> np.ndarray | None:
    """The seeded users KPIs, curves and lists are computed over (None: every user), with the
    positions in ``also`` (e.g. the settings' example users) added."""
    n = settings.sample_users
    sample = rerank.user_sample(experiment.tuning.holdout, n, settings.seed) if n else None
    if sample is None or not len(also):
        return sample
    return np.union1d(sample, np.asarray(also, dtype=np.int64))


def model_label(choice: str) -> str:
    """How a model choice is named on the page and in the report."""
    run = scorers.run_folder(choice)
    if run is not None:
        return f"Hybrid · fine-tuned run {Path(run).name}"
    return MODEL_LABELS.get(choice, choice)


def scope_refusal(model: str) -> str:
    return (
        f"{model_label(model)} learns only from interactions and cannot rank new items "
        f"({SCOPE_HELP['cold']}); pick a model with a text part"
    )


def scoped_holdout(holdout, mask: np.ndarray):
    """The validation positives on in-scope items only (KPIs of a scoped list are judged on the
    items it may hold)."""
    if mask.all():
        return holdout
    return holdout.multiply(mask.astype(np.float32)[None, :]).tocsr()


def titles(data: Dataset) -> list[str]:
    """Display titles: the ``title`` column, else the item text."""
    if "title" in data.items:
        return data.items["title"].fillna("").astype(str).tolist()
    return data.item_text()


def prepare(data: Dataset, settings: Settings) -> tuple[Experiment, np.ndarray]:
    """The page's split (temporal where there are timestamps, else random) and bands."""
    split: SplitKind = "temporal" if data.has_timestamps else "random"
    experiment = protocol.prepare(data, protocol.Protocol(split=split, seed=settings.seed))
    groups = popularity.groups(experiment.tuning.counts, settings.head_rule, settings.head)
    return experiment, groups


def fit_model(
    experiment: Experiment,
    model: str,
    seed: int = 0,
    head_rule: Rule = "top_share",
    head_value: float | None = None,
) -> scorers.PartScorer:
    """Fit ``model`` on training minus validation; the hybrids banded by the head rule."""
    stage = experiment.tuning
    # No validation extras: a model tuning on them would be graded on its own tuning data.
    data = TrainData(stage.train, stage.text, experiment.index.item_ids)
    return scorers.fit_scorer(model, data, seed=seed, head_rule=head_rule, head_value=head_value)


def candidates_of(
    scorer: scorers.PartScorer,
    experiment: Experiment,
    groups: np.ndarray,
    scope: CandidateScope | None = None,
    users: np.ndarray | None = None,
) -> Candidates:
    """Each user's 200 candidates from a fitted scorer, within ``scope`` (default: all);
    ``users``: the positions to build them for (default: every user)."""
    stage = experiment.tuning
    mask = None if scope is None or scope.scope == "all" else scope.mask(stage.counts)
    return rerank.build_candidates(
        scorer, stage.train, stage.counts, groups, scope=mask, users=users
    )


def fit_candidates(
    experiment: Experiment,
    groups: np.ndarray,
    model: str,
    seed: int = 0,
    settings: Settings | None = None,
    users: np.ndarray | None = None,
) -> Candidates:
    """Fit ``model`` on training minus validation and cache 200 candidates for each user (of
    ``users``, default every user); ``settings`` give the head rule (the hybrids' bands) and
    the candidate scope."""
    s = settings or Settings(model=model, seed=seed)
    scorer = fit_model(experiment, model, seed, s.head_rule, s.head_value)
    return candidates_of(scorer, experiment, groups, s.candidate_scope, users)


def assemble(
    settings: Settings,
    dataset: Dataset,
    experiment: Experiment,
    groups: np.ndarray,
    candidates: Candidates,
    baseline: Candidates | None,
    baseline_name: str = BASELINE,
) -> Analysis:
    """An :class:`Analysis` from candidates already built (e.g. the page's cached ones);
    ``baseline_name``: the model ``baseline`` was built with (:func:`baseline_model`)."""
    s = settings
    return Analysis(
        settings=s,
        dataset=dataset,
        experiment=experiment,
        groups=groups,
        candidates=candidates,
        ranked=rerank.rerank(candidates, s.strategy, s.boost, s.k),
        baseline=baseline,
        baseline_ranked=None
        if baseline is None
        else rerank.rerank(baseline, s.strategy, s.boost, s.k),
        baseline_model=baseline_name,
    )


def analyse(settings: Settings, dataset: Dataset | None = None) -> Analysis:
    """Load (unless ``dataset`` is given), split, fit model and baseline, re-rank.

    Past :attr:`Settings.sample_users` judged users, candidates are built for a seeded sample of
    them (with the settings' example users), so KPIs and curves cost the same on any dataset.
    """
    from recsys.data.sources import load

    data = dataset if dataset is not None else load(settings.data)
    s = settings
    experiment, groups = prepare(data, s)
    ids = {str(u): i for i, u in enumerate(experiment.index.user_ids)}
    chosen = [ids[u] for u in s.users if u in ids]  # unknown ones: example_users says which
    users = user_sample(experiment, s, chosen)
    cands = fit_candidates(experiment, groups, s.model, s.seed, s, users)
    base: Candidates | None = None
    name = baseline_model(experiment.tuning.train)
    if s.scope != "cold":  # a collaborative model cannot rank new items: no baseline there
        base = (
            cands if s.model == name else fit_candidates(experiment, groups, name, s.seed, s, users)
        )
    return assemble(s, data, experiment, groups, cands, base, name)
