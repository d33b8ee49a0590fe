"""Text normalisation and tokenisation shared by training and prediction.

Both scripts are mapped to Simplified and full-width forms to half-width so that 貨櫃 and 货柜, ！and !
are one feature; digits collapse to 0 so that order numbers teach shape, not identity. English goes
through a blank spaCy tokenizer, Chinese through spaCy's jieba segmenter with a trade dictionary.
"""
from __future__ import annotations

import re
import unicodedata
from math import log
from functools import lru_cache
from importlib import resources

from triage.nlp.language import to_simplified

_HAN = re.compile(r"[\u4e00-\u9fff]")
_DIGITS = re.compile(r"\d+")
_SPACE = re.compile(r"\s+")


@lru_cache(maxsize=16)
def normalise(text: str) -> str:
    """Cached for the message in hand: features, cues and the short-message rule all read it."""
    text = unicodedata.normalize("NFKC", text)
    text = to_simplified(text).lower()
    text = _DIGITS.sub("0", text)
    return _SPACE.sub(" ", text).strip()


@lru_cache(maxsize=1)
def _english():
    import spacy

    return spacy.blank("en")


def english_pipeline():
    """The blank English pipeline in use (it is replaced now and then; see _renew_when_grown)."""
    return _english()


@lru_cache(maxsize=1)
def _chinese():
    import logging

    import jieba
    import spacy

    jieba.setLogLevel(logging.WARNING)
    words = resources.files("triage.resources").joinpath("trade_terms.txt").read_text(encoding="utf-8")
    for w in words.splitlines():
        w = w.strip()
        if w and not w.startswith("#"):
            jieba.add_word(w, freq=20000)
    nlp = spacy.blank("zh", config={"nlp": {"tokenizer": {"segmenter": "jieba"}}})
    # jieba's HMM guesses words it has never seen; the character n-grams already cover those, and
    # without it segmentation takes about 40% less time.
    nlp.tokenizer.jieba_seg = _JiebaWithoutHmm(jieba)
    return nlp


class _JiebaWithoutHmm:
    """jieba's accurate mode without HMM, same words, about twice as fast.

    jieba builds a dict of every start's word ends, then takes a max over a generator of tuples per
    character: most of a Chinese message's time went there. This walks the same prefix dictionary
    (jieba's own FREQ and total, trade terms included) once per block, right to left, scoring each
    word as it is found, with the same arithmetic and the same tie-break (the longer word wins).
    `tests/test_tokens.py` checks the words equal jieba's own on every Chinese training text.
    """

    def __init__(self, jieba_module) -> None:
        self._jieba = jieba_module
        dt = jieba_module.dt
        dt.check_initialized()
        self._freq = dt.FREQ
        self._logtotal = log(dt.total)
        self._han = jieba_module.re_han_default
        self._skip = jieba_module.re_skip_default

    def cut(self, text: str, cut_all: bool = False):
        if cut_all:
            return self._jieba.cut(text, cut_all=True, HMM=False)
        return self._cut(text)

    def _cut(self, text: str):
        for blk in self._han.split(text):
            if not blk:
                continue
            if self._han.match(blk):
                yield from self._segment(blk)
            else:
                for x in self._skip.split(blk):
                    if self._skip.match(x):
                        yield x
                    else:
                        yield from x

    def _segment(self, s: str) -> tuple[str, ...]:
        freq, logtotal = self._freq, self._logtotal
        n = len(s)
        best = [0.0] * (n + 1)
        end = list(range(n + 1))
        for k in range(n - 1, -1, -1):
            top = None
            i = k
            frag = s[k]
            while i < n and frag in freq:
                f = freq[frag]
                if f:
                    p = log(f) - logtotal + best[i + 1]
                    if top is None or p >= top:  # equal scores: the later end, as max() over (p, i) picks
                        top, end[k] = p, i
                i += 1
                frag = s[k:i + 1]
            if top is None:
                top, end[k] = log(freq.get(s[k]) or 1) - logtotal + best[k + 1], k
            best[k] = top
        out: list[str] = []
        buf = ""
        x = 0
        while x < n:
            y = end[x] + 1
            word = s[x:y]
            if y - x == 1 and word in _ASCII_ALNUM:
                buf += word
            else:
                if buf:
                    out.append(buf)
                    buf = ""
                out.append(word)
            x = y
        if buf:
            out.append(buf)
        return tuple(out)


_ASCII_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


_NOT_A_WORD = re.compile(r"^[\W_]+$")  # most tokens are plain words: str.isalnum() answers those first


_RENEW_AFTER = 50_000  # documents; see _renew_when_grown
_calls = 0


def _renew_when_grown() -> None:
    """spaCy keeps every string it has ever seen in its vocabulary. A worker that runs for months
    would grow without bound on names, addresses and codes, so the blank pipelines are rebuilt from
    time to time (a few hundred milliseconds, once per many thousand messages)."""
    global _calls
    _calls += 1
    if _calls >= _RENEW_AFTER:
        _calls = 0
        _english.cache_clear()
        _chinese.cache_clear()


def tokens(normalised_text: str) -> list[str]:
    """Word tokens of already-normalised text, without spaces and lone punctuation."""
    return list(_tokens(normalised_text))


@lru_cache(maxsize=16)
def _tokens(normalised_text: str) -> tuple[str, ...]:
    """Cached for the message in hand: the model's features and the too-little-text rule both
    tokenise the same subject and newest part.

    Filtering on the token strings rather than on spaCy's lexeme flags keeps this a fraction of a
    millisecond per message (the flags cost more than the tokenizer itself).
    """
    _renew_when_grown()
    if _HAN.search(normalised_text):
        # The words of spaCy's Chinese pipeline come from its jieba segmenter; building the Doc
        # around them (aligning every word back to the text) adds half again to the time and
        # nothing to the words, which a test checks are the Doc's own.
        segmenter = _chinese().tokenizer.jieba_seg
        return tuple(w for w in segmenter.cut(normalised_text) if w.isalnum() or w and not _NOT_A_WORD.match(w))
    return tuple(w for w in (t.text for t in _english().tokenizer(normalised_text)) if w.isalnum() or not _NOT_A_WORD.match(w))
