"""The trained classifier: complaint or not, category, severity, with reasons.

One feature pipeline (normalise -> word and character n-grams + signal flags) feeds three linear
heads. Linear models are the right tool at this data size: they train in seconds, are fast at
prediction time and their weights explain each decision in words staff can check.
The whole object is saved with joblib next to a metadata file; a model built with another
scikit-learn minor version is refused rather than silently mis-predicting.
"""
from __future__ import annotations

import hashlib
import json
import platform
import re
import time
import tomllib
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Callable, Sequence

import joblib
import numpy as np
import scipy.sparse as sp
import sklearn
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import FeatureUnion, Pipeline

from triage.nlp.signals import find_signals, signal_names
from triage.nlp.tokens import normalise, tokens

CATEGORIES = ("late_delivery", "wrong_goods", "damage", "quality", "billing", "unreachable_staff")
SEVERITIES = ("low", "medium", "high", "critical")
MODEL_FORMAT = 2


class IncompatibleModel(RuntimeError):
    """The saved model was built with software this process cannot safely use."""


def word_ngrams(normalised_text: str) -> list[str]:
    toks = tokens(normalised_text)
    return toks + [f"{a} {b}" for a, b in zip(toks, toks[1:])]


class Normaliser(BaseEstimator, TransformerMixin):
    """Raw text to normalised text (Simplified, lower case, digits folded)."""

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return [normalise(x) for x in X]


class SignalFlags(BaseEstimator, TransformerMixin):
    """One column per explicit severity signal, so the severity head can weigh them."""

    def fit(self, X, y=None):
        self.names_ = [n for n in signal_names() if n not in ("big_amount", "big_share")]
        return self

    def transform(self, X):
        rows = []
        for x in X:
            names = {s.name for s in find_signals(x)}
            rows.append([1.0 if n in names else 0.0 for n in self.names_])
        return sp.csr_matrix(np.array(rows, dtype=np.float64).reshape(len(rows), len(self.names_)))

    def get_feature_names_out(self, input_features=None):
        return np.array([f"signal:{n}" for n in self.names_])


class CueFlags(BaseEstimator, TransformerMixin):
    """How often each wording cue in `resources/cues.toml` occurs (capped), on normalised text."""

    def fit(self, X, y=None):
        raw = tomllib.loads(resources.files("triage.resources").joinpath("cues.toml").read_text(encoding="utf-8"))
        self.names_ = list(raw)
        self.patterns_ = [re.compile(raw[n]) for n in self.names_]
        return self

    def transform(self, X):
        rows = [[min(3, len(p.findall(x))) / 3 for p in self.patterns_] for x in X]
        return sp.csr_matrix(np.array(rows, dtype=np.float64).reshape(len(rows), len(self.patterns_)))

    def get_feature_names_out(self, input_features=None):
        return np.array([f"cue:{n}" for n in self.names_])


@lru_cache(maxsize=1)
def _problem_pattern() -> re.Pattern[str]:
    raw = tomllib.loads(resources.files("triage.resources").joinpath("cues.toml").read_text(encoding="utf-8"))
    return re.compile(raw["problem"])


def problem_cue(text: str) -> bool:
    return bool(_problem_pattern().search(normalise(text)))


def informative_tokens(text: str) -> int:
    """Words that are not function words; each Chinese word counts."""
    return sum(1 for t in tokens(normalise(text)) if not _is_stop(t) and t != "0")


def build_features() -> FeatureUnion:
    text_features = Pipeline(
        [
            ("normalise", Normaliser()),
            (
                "ngrams",
                FeatureUnion(
                    [
                        ("words", TfidfVectorizer(analyzer=word_ngrams, min_df=2, sublinear_tf=True, max_features=60000)),
                        ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 4), min_df=2, sublinear_tf=True, max_features=120000)),
                        ("cues", CueFlags()),
                    ]
                ),
            ),
        ]
    )
    return FeatureUnion([("text", text_features), ("signals", SignalFlags())])


def _stop_words() -> set[str]:
    from spacy.lang.en.stop_words import STOP_WORDS as EN
    from spacy.lang.zh.stop_words import STOP_WORDS as ZH

    return set(EN) | set(ZH) | {"n't", "'s", "'m", "'re", "'ll", "'ve", "'d", "0", "re", "fw", "hi", "dear"}


_STOP = _stop_words()


def _is_stop(word: str) -> bool:
    return word in _STOP or len(word) < 2 and not ("\u4e00" <= word <= "\u9fff")


def _readable_fragment(frag: str) -> bool:
    """Character n-grams are shown only when they read as a word or a Chinese phrase."""
    has_han = any("\u4e00" <= c <= "\u9fff" for c in frag)
    if has_han:
        return len(frag) >= 2 and frag not in _STOP
    return len(frag) >= 4 and frag.isalpha() and frag not in _STOP


@dataclass(frozen=True)
class Prediction:
    is_complaint: bool
    complaint_probability: float
    category: str | None
    secondary: tuple[str, ...]
    category_probability: float
    severity: str
    reasons: tuple[str, ...]


def model_text(subject: str, newest: str) -> str:
    """What the model reads: the subject line and the newest part, nothing quoted."""
    return f"{subject or ''}\n{newest or ''}"


class TriageModel:
    def __init__(self, seed: int = 13) -> None:
        self.seed = seed
        self.features = build_features()
        self.threshold = 0.5
        self.metadata: dict = {}

    # ---- training -------------------------------------------------------------------------
    def fit(
        self,
        texts: Sequence[str],
        is_complaint: Sequence[bool],
        categories: Sequence[str | None],
        severities: Sequence[str],
        target_recall: float = 0.975,
        progress: Callable[[str], None] = lambda s: None,
    ) -> "TriageModel":
        y_c = np.array([1 if c else 0 for c in is_complaint])
        progress("features")
        X = self.features.fit_transform(list(texts))
        self.feature_names_ = np.array(self._feature_names())
        progress("complaint detector (calibrated, 5-fold)")
        base = LogisticRegression(C=24.0, class_weight="balanced", max_iter=3000, random_state=self.seed)
        folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=self.seed)
        oof = cross_val_predict(
            CalibratedClassifierCV(base, cv=3, method="sigmoid"), X, y_c, cv=folds, method="predict_proba"
        )[:, 1]
        self.threshold = self._recall_threshold(oof, y_c, target_recall)
        self.complaint_clf = CalibratedClassifierCV(base, cv=5, method="sigmoid").fit(X, y_c)
        self.complaint_explainer = LogisticRegression(C=24.0, class_weight="balanced", max_iter=3000).fit(X, y_c)
        idx = np.flatnonzero(y_c == 1)
        Xc = X[idx]
        progress("category head")
        y_cat = np.array([categories[i] for i in idx])
        self.category_clf = LogisticRegression(C=10.0, class_weight="balanced", max_iter=3000, random_state=self.seed).fit(Xc, y_cat)
        progress("severity head")
        y_sev = np.array([severities[i] for i in idx])
        self.severity_clf = LogisticRegression(C=4.0, class_weight="balanced", max_iter=3000, random_state=self.seed).fit(Xc, y_sev)
        return self

    @staticmethod
    def _recall_threshold(proba: np.ndarray, y: np.ndarray, target: float) -> float:
        """The highest threshold whose out-of-fold recall still meets the target: a missed complaint costs more than a false alarm."""
        pos = np.sort(proba[y == 1])
        if len(pos) == 0:
            return 0.5
        k = int(np.floor((1 - target) * len(pos)))
        return float(min(0.5, max(0.05, pos[k] - 1e-6)))

    def _feature_names(self) -> list[str]:
        text = self.features.transformer_list[0][1]
        union = text.named_steps["ngrams"]
        words = [f"word:{w}" for w in union.transformer_list[0][1].get_feature_names_out()]
        chars = [f"chars:{c}" for c in union.transformer_list[1][1].get_feature_names_out()]
        chars += list(union.transformer_list[2][1].get_feature_names_out())
        signals = list(self.features.transformer_list[1][1].get_feature_names_out())
        return words + chars + signals

    # ---- prediction -----------------------------------------------------------------------
    def _top_features(self, x, coef: np.ndarray, n: int = 5) -> list[str]:
        """The words behind a decision, as staff would read them: no function words or fragments."""
        row = x.tocsr()
        contrib = row.data * coef[row.indices]
        order = np.argsort(-contrib)
        out: list[str] = []
        for j in order:
            if contrib[j] <= 0 or len(out) >= n:
                break
            name = self.feature_names_[row.indices[j]]
            if name.startswith("chars:"):
                frag = name[6:].strip()
                if not _readable_fragment(frag) or any(frag in o for o in out):
                    continue
                name = f"“{frag}”"
            elif name.startswith("word:"):
                words = name[5:].split(" ")
                if all(_is_stop(w) for w in words):
                    continue
                name = f"“{name[5:]}”"
            if name not in out:
                out.append(name)
        return out

    def predict_many(self, texts: Sequence[str]) -> list[Prediction]:
        X = self.features.transform(list(texts))
        p_c = self.complaint_clf.predict_proba(X)[:, 1]
        cat_p = self.category_clf.predict_proba(X)
        sev_p = self.severity_clf.predict_proba(X)
        cats = list(self.category_clf.classes_)
        sevs = list(self.severity_clf.classes_)
        out = []
        for i in range(X.shape[0]):
            x = X[i]
            is_c = bool(p_c[i] >= self.threshold)
            if not is_c:
                out.append(Prediction(False, float(p_c[i]), None, (), 0.0, "none", tuple(self._top_features(x, -self.complaint_explainer.coef_[0], 3))))
                continue
            order = np.argsort(-cat_p[i])
            primary = str(cats[order[0]])
            secondary = tuple(str(cats[j]) for j in order[1:3] if cat_p[i][j] >= 0.25)
            severity = str(sevs[int(np.argmax(sev_p[i]))])
            ci = cats.index(primary)
            si = sevs.index(severity)
            cat_coef = self.category_clf.coef_[ci] if self.category_clf.coef_.shape[0] > 1 else self.category_clf.coef_[0]
            reasons = [f"category: {r}" for r in self._top_features(x, cat_coef, 4)]
            reasons += [f"severity: {r}" for r in self._top_features(x, self.severity_clf.coef_[si], 3)]
            out.append(Prediction(True, float(p_c[i]), primary, secondary, float(cat_p[i][order[0]]), severity, tuple(reasons)))
        return out

    def predict(self, text: str) -> Prediction:
        return self.predict_many([text])[0]

    # ---- persistence ----------------------------------------------------------------------
    def save(self, path: Path, metadata: dict) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.metadata = {
            **metadata,
            "format": MODEL_FORMAT,
            "sklearn": sklearn.__version__,
            "python": platform.python_version(),
            "threshold": self.threshold,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        joblib.dump(self, path, compress=3)
        path.with_suffix(".json").write_text(json.dumps(self.metadata, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def load_model(path: str | Path) -> TriageModel:
    path = Path(path)
    meta_path = path.with_suffix(".json")
    if not path.exists():
        raise FileNotFoundError(f"no model at {path}; run `triage train` to build one")
    if meta_path.exists():
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        built = meta.get("sklearn", "?")
        if _minor(built) != _minor(sklearn.__version__):
            raise IncompatibleModel(
                f"model {path} was built with scikit-learn {built}, this is {sklearn.__version__}; "
                "retrain with `triage train` or install the matching version"
            )
        if meta.get("format") != MODEL_FORMAT:
            raise IncompatibleModel(f"model {path} has format {meta.get('format')}, expected {MODEL_FORMAT}; retrain it")
    t0 = time.perf_counter()
    model = joblib.load(path)
    if not isinstance(model, TriageModel):
        raise IncompatibleModel(f"{path} does not hold a triage model")
    model.load_seconds = time.perf_counter() - t0
    return model


def data_hash(records: Sequence[dict]) -> str:
    h = hashlib.sha256()
    for r in sorted(records, key=lambda r: r["id"]):
        h.update(json.dumps(r, sort_keys=True, ensure_ascii=False).encode("utf-8"))
    return h.hexdigest()[:16]
