"""The trained classifier as the worker runs it: complaint or not, category, severity, remedies, reasons.

Training (triage.nlp.model) fits scikit-learn estimators; what it saves is this: the fitted
vocabularies, idf vectors and every head's weights as plain numpy arrays, and the arithmetic that
turns a message into the same feature row and the same scores. The worker therefore never imports
scikit-learn or scipy (over 80 MB of a process that must stay under 400 MB for months), holds one
copy of the weights instead of two and loads in a fraction of the time. Tests train a model and
check that rows and scores equal the fitted estimators' own.
"""
from __future__ import annotations

import json
import platform
import re
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata as package_metadata
from itertools import repeat
from pathlib import Path
from typing import Sequence

import joblib
import numpy as np

from triage.nlp.features import (
    MAX_MODEL_CHARS,
    SEVERITIES,
    CharGramIndex,
    char_wb_ngrams,
    cue_row,
    is_stop_word,
    readable_fragment,
    signal_row,
    word_ngrams,
)
from triage.nlp.tokens import normalise

# 9: the saved file holds a Classifier (plain arrays), no scikit-learn objects.
MODEL_FORMAT = 9


class IncompatibleModel(RuntimeError):
    """The saved model was built with software this process cannot safely use."""


@dataclass(frozen=True)
class Prediction:
    is_complaint: bool
    complaint_probability: float
    category: str | None
    secondary: tuple[str, ...]
    category_probability: float
    severity: str
    reasons: tuple[str, ...]
    remedy_probability: tuple[tuple[str, float], ...] = ()  # complaints only: (remedy, probability asked)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def sklearn_version() -> str:
    """The installed scikit-learn's version, read from its package metadata without importing it."""
    try:
        return package_metadata.version("scikit-learn")
    except package_metadata.PackageNotFoundError:
        return "not installed"


@dataclass
class Heads:
    """Every head's weights side by side, one column each: complaint (SVM margin), the categories,
    the severity steps ("medium or worse", "high or worse", "critical") and the remedies. One gather of
    a message's rows scores them all."""

    weights: np.ndarray  # (n_features, 1 + n_categories + n_steps + n_remedies), float64
    complaint_bias: float
    category_bias: np.ndarray
    step_bias: np.ndarray
    remedy_bias: np.ndarray
    platt: tuple[float, float]  # calibration of the complaint margin: sigmoid(a * margin + b)


class Classifier:
    """Feature rows and scores for messages, with the words behind each decision.

    Built by `TriageModel.compile()` from the fitted pipeline: TF-IDF rows are computed from the
    fitted vocabularies and idf (sublinear tf, l2 norm, as the vectorizers were configured), cue and
    signal columns by the same functions training used.
    """

    def __init__(
        self,
        *,
        word_vocab: dict[str, int],
        word_idf: np.ndarray,
        char_vocab: dict[str, int],
        char_idf: np.ndarray,
        cue_names: list[str],
        cue_patterns: list[list[tuple[bool, re.Pattern[str]]]],
        signal_names: list[str],
        heads: Heads,
        threshold: float,
        categories: list[str],
        remedy_kinds: list[str],
        shown: np.ndarray,
        seed: int,
    ) -> None:
        self.word_vocab, self.word_idf = word_vocab, word_idf
        self.char_vocab, self.char_idf = char_vocab, char_idf
        self.cue_names, self.cue_patterns = cue_names, cue_patterns
        self.signal_names = signal_names
        self.heads = heads
        self.threshold = threshold
        self.categories = categories
        self.remedy_kinds = remedy_kinds
        self.shown = shown  # which columns read as something staff can check, worked out at training
        self.seed = seed
        self.metadata: dict = {}

    # ---- feature rows ---------------------------------------------------------------------
    @property
    def width(self) -> int:
        return len(self.word_vocab) + len(self.char_vocab) + len(self.cue_names) + len(self.signal_names)

    def _char_index(self) -> CharGramIndex:
        if getattr(self, "_chars", None) is None:
            self._chars = CharGramIndex(self.char_vocab)
        return self._chars

    def rows(self, texts: Sequence[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Each text's non-zero feature columns and values: the row the fitted pipeline builds."""
        index = self._char_index()
        n_words, n_chars = len(self.word_vocab), len(self.char_vocab)
        cue_off = n_words + n_chars
        sig_off = cue_off + len(self.cue_names)
        out = []
        for t in texts:
            raw = t[:MAX_MODEL_CHARS]
            doc = normalise(raw)
            idx_parts, val_parts = [], []
            # Character n-grams are counted packed in numpy (None outside the BMP: the string path).
            for vocab, idf, off, analyse, packed in ((self.word_vocab, self.word_idf, 0, word_ngrams, None),
                                                     (self.char_vocab, self.char_idf, n_words, char_wb_ngrams, index)):
                found = packed.count(doc) if packed is not None else None
                if found is None:
                    found = self._count(analyse(doc), vocab)
                idx, counts = found
                if not len(idx):
                    continue
                val = (1.0 + np.log(counts)) * idf[idx]
                val /= np.sqrt(np.dot(val, val))
                order = idx.argsort()
                idx_parts.append(idx[order] + off)
                val_parts.append(val[order])
            for block, off in ((cue_row(self.cue_patterns, doc), cue_off), (signal_row(self.signal_names, raw), sig_off)):
                nz = block.nonzero()[0]
                idx_parts.append(nz + off)
                val_parts.append(block[nz])
            out.append((np.concatenate(idx_parts), np.concatenate(val_parts)))
        return out

    @staticmethod
    def _count(grams: list[str], vocab: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
        """Known n-grams' columns and counts; counting, lookup and filtering all run in C."""
        counts = Counter(grams)
        n = len(counts)
        idx = np.fromiter(map(vocab.get, counts, repeat(-1, n)), dtype=np.int64, count=n)
        known = idx >= 0
        return idx[known], np.fromiter(counts.values(), dtype=np.float64, count=n)[known]

    def transform(self, texts: Sequence[str]):
        """The feature matrix for many texts (batch scoring, tests); single messages skip scipy."""
        import scipy.sparse as sp

        rows = self.rows(texts)
        if not rows:
            return sp.csr_matrix((0, self.width))
        indptr = np.cumsum([0] + [len(i) for i, _ in rows])
        return sp.csr_matrix((np.concatenate([v for _, v in rows]), np.concatenate([i for i, _ in rows]), indptr),
                             shape=(len(rows), self.width))

    # ---- reasons --------------------------------------------------------------------------
    def feature_name(self, col: int) -> str:
        """One column's name ("word:late", "chars:破损", "cue:problem", "signal:legal"), for reasons.

        Looked up per column in lists that share the vocabularies' own strings: a list of every
        column's prefixed name would cost over 10 MB of memory for the few dozen a message shows.
        """
        if getattr(self, "_terms", None) is None:
            blocks = []
            for prefix, vocab in (("word:", self.word_vocab), ("chars:", self.char_vocab)):
                terms = [""] * len(vocab)
                for term, i in vocab.items():
                    terms[i] = term
                blocks.append((prefix, terms))
            blocks.append(("cue:", list(self.cue_names)))
            blocks.append(("signal:", list(self.signal_names)))
            self._terms = blocks
        for prefix, terms in self._terms:
            if col < len(terms):
                return prefix + str(terms[col])
            col -= len(terms)
        raise IndexError(col)

    def display_name(self, col: int) -> tuple[str, str] | None:
        """How a feature column reads to staff (and, for a character fragment, the fragment, which is
        not shown again inside a longer reason), or None when it reads as nothing: a function word, a
        piece of one."""
        name = self.feature_name(col)
        if name.startswith("chars:"):
            frag = name[6:].strip()
            return (f"“{frag}”", frag) if readable_fragment(frag) else None
        if name.startswith("word:"):
            if all(is_stop_word(w) for w in name[5:].split(" ")):
                return None
            return f"“{name[5:]}”", ""
        return str(name), ""

    def _top_features(self, indices: np.ndarray, contrib: np.ndarray, n: int = 5) -> list[str]:
        """The words behind a decision, as staff would read them: no function words or fragments.

        `contrib` is each of the row's features' share of the score (value times weight), in the
        order of `indices`; the caller has the weights of its few non-zero columns at hand already.
        """
        positive = ((contrib > 0) & self.shown[indices]).nonzero()[0]
        # Only the strongest few dozen can make the list: sort those, not the whole row.
        if len(positive) > 48:
            positive = positive[np.argpartition(-contrib[positive], 47)[:48]]
        order = positive[(-contrib[positive]).argsort()]
        out: list[str] = []
        if getattr(self, "_shown_names", None) is None:
            self._shown_names = {}
        shown = self._shown_names  # the same few thousand columns recur in every message
        for j in order:
            if len(out) >= n:
                break
            col = int(indices[j])
            name = shown.get(col)
            if name is None:  # `shown` lets through only columns that have a display name
                name = shown[col] = self.display_name(col)
            if name[0] in out or (name[1] and any(name[1] in o for o in out)):
                continue
            out.append(name[0])
        return out

    # ---- prediction -----------------------------------------------------------------------
    def predict_many(self, texts: Sequence[str], force_complaint: bool = False) -> list[Prediction]:
        h = self.heads
        a, b = h.platt
        cats = self.categories
        n_cat, n_sev = len(cats), len(h.step_bias)
        out = []
        for idx, val in self.rows(texts):
            share = val[:, None] * h.weights[idx]  # each feature's part in each head's score
            scores = share.sum(axis=0)
            p_c = float(_sigmoid(a * (scores[0] + h.complaint_bias) + b))
            is_c = force_complaint or p_c >= self.threshold
            if not is_c:
                out.append(Prediction(False, p_c, None, (), 0.0, "none", tuple(self._top_features(idx, -share[:, 0], 3))))
                continue
            cat_p = _softmax((scores[1:1 + n_cat] + h.category_bias)[None, :])[0]
            step_p = _sigmoid(scores[1 + n_cat:1 + n_cat + n_sev] + h.step_bias)
            rem_p = _sigmoid(scores[1 + n_cat + n_sev:] + h.remedy_bias)
            order = (-cat_p).argsort()
            primary = cats[order[0]]
            secondary = tuple(cats[j] for j in order[1:3] if cat_p[j] >= 0.25)
            si = int((step_p > 0.5).sum())
            # The words behind the decision: for the step the level reached, or against the next one.
            sev_share = share[:, n_cat + si] if si > 0 else -share[:, 1 + n_cat]
            reasons = [f"category: {r}" for r in self._top_features(idx, share[:, 1 + order[0]], 4)]
            reasons += [f"severity: {r}" for r in self._top_features(idx, sev_share, 3)]
            out.append(Prediction(True, p_c, primary, secondary, float(cat_p[order[0]]), SEVERITIES[si], tuple(reasons),
                                  tuple(zip(self.remedy_kinds, (float(v) for v in rem_p)))))
        return out

    def predict(self, text: str) -> Prediction:
        return self.predict_many([text])[0]

    # ---- persistence ----------------------------------------------------------------------
    def __getstate__(self) -> dict:
        """Caches built for prediction are rebuilt on first use, never written into the model file."""
        state = dict(self.__dict__)
        for key in ("_chars", "_terms", "_shown_names", "load_seconds"):
            state.pop(key, None)
        return state

    def save(self, path: Path, metadata: dict) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.metadata = {
            **metadata,
            "format": MODEL_FORMAT,
            "sklearn": metadata.get("sklearn") or sklearn_version(),
            "python": platform.python_version(),
            "threshold": self.threshold,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        joblib.dump(self, path, compress=3)
        path.with_suffix(".json").write_text(json.dumps(self.metadata, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def load_model(path: str | Path) -> Classifier:
    """The saved classifier, refused when it was built for other software.

    The file holds no scikit-learn objects, but its rows reproduce the scikit-learn version it was
    trained with (tokenisation, char_wb n-grams, idf) and are tested against that version only; a
    model from another minor version is refused rather than left to mis-predict quietly.
    """
    path = Path(path)
    meta_path = path.with_suffix(".json")
    if not path.exists():
        raise FileNotFoundError(f"no model at {path}; run `triage train` to build one")
    if meta_path.exists():
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        built, here = meta.get("sklearn", "?"), sklearn_version()
        if _minor(built) != _minor(here):
            raise IncompatibleModel(
                f"model {path} was built with scikit-learn {built}, this is {here}; "
                "retrain with `triage train` or install the matching version"
            )
        if meta.get("format") != MODEL_FORMAT:
            raise IncompatibleModel(f"model {path} has format {meta.get('format')}, expected {MODEL_FORMAT}; retrain it")
    t0 = time.perf_counter()
    try:
        model = joblib.load(path)
    except (ModuleNotFoundError, AttributeError) as exc:  # an older file naming classes that moved
        raise IncompatibleModel(f"{path} was written by another version of triage ({exc}); retrain it") from exc
    if not isinstance(model, Classifier):
        raise IncompatibleModel(f"{path} does not hold a triage model")
    model.load_seconds = time.perf_counter() - t0
    return model
