"""What the classifier reads: the text it sees, its n-grams, wording cues and function words.

Pure functions and plain data, shared by training (triage.nlp.model, scikit-learn) and prediction
(triage.nlp.classifier, numpy only), so the worker never imports scikit-learn to read its mail.
"""
from __future__ import annotations

import re
import tomllib
from functools import lru_cache
from importlib import resources

import numpy as np

from triage.nlp.signals import find_signals
from triage.nlp.tokens import normalise, tokens

CATEGORIES = ("late_delivery", "wrong_goods", "damage", "quality", "billing", "unreachable_staff")
SEVERITIES = ("low", "medium", "high", "critical")
# Remedies a head is trained for ("other" is too mixed a bag to learn: it stays with the patterns).
REMEDIES = ("replacement", "refund", "discount", "return", "compensation", "repair", "reshipment")
MAX_MODEL_CHARS = 6000  # the newest part rarely runs longer; a pasted report must not cost seconds


def model_text(subject: str, newest: str) -> str:
    """What the model reads: the subject line and the newest part, nothing quoted."""
    return f"{subject or ''}\n{newest or ''}"


def word_ngrams(normalised_text: str) -> list[str]:
    toks = tokens(normalised_text)
    return toks + [f"{a} {b}" for a, b in zip(toks, toks[1:])]


def char_wb_ngrams(normalised_text: str) -> list[str]:
    """scikit-learn's char_wb 1-4-grams, same strings in the same order, built by slicing in
    comprehensions (a third of the time of its while-loop). Used only when predicting: the fitted
    vectorizer stays the reference, and a test checks the two agree."""
    out: list[str] = []
    extend = out.extend
    for w in normalised_text.lower().split():
        w = f" {w} "
        n_chars = len(w)
        extend(w)
        extend([w[i:i + 2] for i in range(n_chars - 1)])
        if n_chars <= 3:
            extend([w])
            continue
        extend([w[i:i + 3] for i in range(n_chars - 2)])
        if n_chars <= 4:
            extend([w])
            continue
        extend([w[i:i + 4] for i in range(n_chars - 3)])
    return out


class CharGramIndex:
    """Character n-gram counting for prediction, in numpy.

    Every char_wb n-gram (n <= 4) of Basic-Multilingual-Plane text packs exactly into 64 bits, 16
    per character (code point + 1, so a shorter n-gram never equals a longer one). The fitted
    vocabulary is packed once; a message's n-grams are then packed, counted and looked up with
    array operations instead of one Python string per n-gram. Text outside the BMP (emoji, rare
    CJK extensions) returns None and takes the string path; a test checks both give the same row.
    """

    def __init__(self, vocabulary: dict[str, int]) -> None:
        keys, cols = [], []
        for term, col in vocabulary.items():
            if len(term) <= 4 and all(ord(c) < 0xFFFF for c in term):
                keys.append(sum((ord(c) + 1) << (16 * k) for k, c in enumerate(term)))
                cols.append(col)
        order = np.argsort(np.array(keys, dtype=np.uint64))
        self.keys = np.array(keys, dtype=np.uint64)[order]
        self.cols = np.array(cols, dtype=np.int64)[order]

    def count(self, normalised_text: str) -> tuple[np.ndarray, np.ndarray] | None:
        """(vocabulary columns, counts) of the text's known char_wb 1-4-grams, or None."""
        words = normalised_text.lower().split()
        if not words:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
        padded = " " + "  ".join(words) + " "
        units = np.frombuffer(padded.encode("utf-16-le"), dtype=np.uint16)
        if len(units) != len(padded) or (units == 0xFFFF).any():
            return None
        a = units.astype(np.uint64) + np.uint64(1)
        widths = [len(w) + 2 for w in words]
        ends = np.repeat(np.cumsum(widths), widths)
        pos = np.arange(len(a))
        grams = [a]
        h = a
        for n in range(2, 5):
            h = h[:-1] | (a[n - 1:] << np.uint64(16 * (n - 1)))
            grams.append(h[pos[: len(h)] + n <= ends[: len(h)]])
        uniq, counts = np.unique(np.concatenate(grams), return_counts=True)
        at = self.keys.searchsorted(uniq).clip(max=len(self.keys) - 1)
        known = self.keys[at] == uniq
        return self.cols[at[known]], counts[known].astype(np.float64)


_HAN_CHAR = re.compile(r"[\u4e00-\u9fff]")
_LATIN_CHAR = re.compile(r"[a-z]")


def cue_patterns() -> dict[str, list[tuple[bool, re.Pattern[str]]]]:
    """Each cue's patterns from `resources/cues.toml`, each marked whether it is the Chinese one."""
    raw = tomllib.loads(resources.files("triage.resources").joinpath("cues.toml").read_text(encoding="utf-8"))
    return {name: [(bool(_HAN_CHAR.search(p)), re.compile(p)) for p in ([pats] if isinstance(pats, str) else pats)]
            for name, pats in raw.items()}

def cue_row(patterns: list[list[tuple[bool, re.Pattern[str]]]], doc: str) -> np.ndarray:
    """How often each cue occurs in normalised text, capped at three and scaled to 0..1.

    A pattern of a script the text does not contain cannot match: it is not run."""
    han, latin = bool(_HAN_CHAR.search(doc)), bool(_LATIN_CHAR.search(doc))
    return np.array([min(3, sum(len(p.findall(doc)) for chinese, p in pats if (han if chinese else latin))) / 3
                     for pats in patterns])


def signal_row(names: list[str], raw: str) -> np.ndarray:
    """One 0/1 column per explicit severity signal the model was trained with, so the severity
    head can weigh them; read from the raw text (signals normalise it their own way)."""
    found = {s.name for s in find_signals(raw)}
    return np.array([1.0 if n in found else 0.0 for n in names])


@lru_cache(maxsize=None)
def _cue(name: str) -> tuple[re.Pattern[str], ...]:
    return tuple(p for _, p in cue_patterns()[name])


def cue(name: str, text: str) -> bool:
    """Whether a wording cue from `resources/cues.toml` occurs in the text."""
    doc = normalise(text)
    return any(p.search(doc) for p in _cue(name))


def problem_cue(text: str) -> bool:
    return cue("problem", text)


def informative_tokens(text: str) -> int:
    """Words that are not function words; each Chinese word counts."""
    return sum(1 for t in tokens(normalise(text)) if not is_stop_word(t) and t != "0")


def _stop_words() -> set[str]:
    from spacy.lang.en.stop_words import STOP_WORDS as EN
    from spacy.lang.zh.stop_words import STOP_WORDS as ZH

    return set(EN) | set(ZH) | {"n't", "'s", "'m", "'re", "'ll", "'ve", "'d", "0", "re", "fw", "hi", "dear"}


_STOP = _stop_words()


def is_stop_word(word: str) -> bool:
    """A function word, or a one-letter Latin token: never shown as a reason, never counted as content."""
    return word in _STOP or len(word) < 2 and not ("\u4e00" <= word <= "\u9fff")


def readable_fragment(frag: str) -> bool:
    """Character n-grams are shown only when they read as a word or a Chinese phrase."""
    has_han = any("\u4e00" <= c <= "\u9fff" for c in frag)
    if has_han:
        return len(frag) >= 2 and frag not in _STOP
    return len(frag) >= 4 and frag.isalpha() and frag not in _STOP
