"""`triage train` and `triage eval`: fit on the train split, measure on the test split only.

Figures are always computed, never remembered: every report is produced from the saved model and
the held-out records at the time it is asked for.
"""
from __future__ import annotations

import importlib.metadata as md
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from triage.baseline import baseline_predict
from triage.dataset import Example, examples, load_records, split
from triage.nlp.classifier import Classifier
from triage.nlp.features import CATEGORIES, SEVERITIES, model_text
from triage.nlp.model import TriageModel, data_hash


def train_model(data_dir: str | Path, out: str | Path, seed: int = 13, progress: Callable[[str], None] = print) -> tuple[TriageModel, dict]:
    records = load_records(data_dir)
    train_recs, test_recs = split(records)
    if not train_recs:
        raise ValueError(f"no training records under {data_dir}")
    ex = examples(train_recs)
    progress(f"training on {len(ex)} messages ({len(test_recs)} held out for `triage eval`)")
    t0 = time.perf_counter()
    model = TriageModel(seed=seed)
    model.fit([e.text for e in ex], [e.is_complaint for e in ex], [e.category for e in ex], [e.severity for e in ex],
              [e.remedy for e in ex], progress=lambda s: progress(f"  fitting {s}"))
    progress(f"  done in {time.perf_counter() - t0:.1f}s; complaint threshold {model.threshold:.3f}")
    metrics = {}
    if test_recs:
        report = evaluate(model.classifier, examples(test_recs))
        metrics = report.headline()
    meta = {
        "data_hash": data_hash([{k: v for k, v in r.items() if k != "_file"} for r in train_recs]),
        "train_size": len(train_recs),
        "test_size": len(test_recs),
        "seed": seed,
        "libraries": {p: _version(p) for p in ("scikit-learn", "spacy", "jieba", "opencc", "numpy", "scipy")},
        "metrics": metrics,
    }
    model.save(Path(out), meta)
    progress(f"model written to {out}")
    return model, meta


def _version(pkg: str) -> str:
    try:
        return md.version(pkg)
    except md.PackageNotFoundError:
        return "?"


# ---- evaluation ---------------------------------------------------------------------------------
@dataclass
class Scores:
    labels: list[str]
    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    support: np.ndarray
    matrix: np.ndarray

    @classmethod
    def of(cls, y_true: list[str], y_pred: list[str], labels: list[str]) -> "Scores":
        if not y_true:  # e.g. a language with no complaints in an outside set: nothing to score, all zero
            zeros = np.zeros(len(labels))
            return cls(labels, zeros, zeros, zeros, zeros.astype(int), np.zeros((len(labels), len(labels)), int))
        p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
        return cls(labels, p, r, f, s, confusion_matrix(y_true, y_pred, labels=labels))

    def macro_f1(self) -> float:
        mask = self.support > 0
        return float(self.f1[mask].mean()) if mask.any() else 0.0

    def table(self, title: str) -> str:
        w = max(12, *(len(lbl) for lbl in self.labels))
        lines = [title, f"  {'':<{w}} {'prec':>6} {'recall':>6} {'F1':>6} {'n':>5}"]
        for i, lbl in enumerate(self.labels):
            lines.append(f"  {lbl:<{w}} {self.precision[i]:6.3f} {self.recall[i]:6.3f} {self.f1[i]:6.3f} {int(self.support[i]):5d}")
        lines.append(f"  {'macro F1':<{w}} {self.macro_f1():6.3f}")
        lines.append("  confusion (rows = true, columns = predicted):")
        short = [lbl[:8] for lbl in self.labels]
        lines.append("  " + " " * w + " " + " ".join(f"{s:>8}" for s in short))
        for i, lbl in enumerate(self.labels):
            lines.append(f"  {lbl:<{w}} " + " ".join(f"{v:8d}" for v in self.matrix[i]))
        return "\n".join(lines)


@dataclass
class Report:
    n: int
    complaint: Scores
    category: Scores
    severity: Scores
    severity_within_one: float
    severity_exact: float
    per_language: dict[str, "Report"]

    def headline(self) -> dict:
        ci = self.complaint.labels.index("complaint")
        return {
            "n": self.n,
            "complaint_precision": round(float(self.complaint.precision[ci]), 4),
            "complaint_recall": round(float(self.complaint.recall[ci]), 4),
            "complaint_f1": round(float(self.complaint.f1[ci]), 4),
            "category_macro_f1": round(self.category.macro_f1(), 4),
            "severity_exact": round(self.severity_exact, 4),
            "severity_within_one": round(self.severity_within_one, 4),
        }


def _severity_stats(true: list[str], pred: list[str]) -> tuple[float, float]:
    pairs = [(t, p) for t, p in zip(true, pred) if t in SEVERITIES]
    if not pairs:
        return 0.0, 0.0
    order = {s: i for i, s in enumerate(("none",) + SEVERITIES)}
    exact = sum(t == p for t, p in pairs) / len(pairs)
    within = sum(abs(order[t] - order[p]) <= 1 for t, p in pairs) / len(pairs)
    return exact, within


def _report(exs: list[Example], preds: list[tuple[bool, str | None, str]], by_language: bool) -> Report:
    y_c = ["complaint" if e.is_complaint else "none" for e in exs]
    p_c = ["complaint" if p[0] else "none" for p in preds]
    comp = [(e, p) for e, p in zip(exs, preds) if e.is_complaint]
    y_cat = [e.category or "none" for e, _ in comp]
    p_cat = [p[1] or "none" for _, p in comp]
    y_sev = [e.severity for e, _ in comp]
    p_sev = [p[2] for _, p in comp]
    exact, within = _severity_stats(y_sev, p_sev)
    per = {}
    if by_language:
        for lang in sorted({e.language for e in exs}):
            idx = [i for i, e in enumerate(exs) if e.language == lang]
            per[lang] = _report([exs[i] for i in idx], [preds[i] for i in idx], False)
    return Report(
        n=len(exs),
        complaint=Scores.of(y_c, p_c, ["complaint", "none"]),
        category=Scores.of(y_cat, p_cat, list(CATEGORIES) + (["none"] if "none" in p_cat else [])),
        severity=Scores.of(y_sev, p_sev, list(SEVERITIES) + (["none"] if "none" in p_sev else [])),
        severity_within_one=within,
        severity_exact=exact,
        per_language=per,
    )


def model_predictions(model: Classifier, exs: list[Example]) -> list[tuple[bool, str | None, str]]:
    """The product's own decision path (model, signals, rules), exactly as live mail gets it."""
    from triage.understand import understand_text

    out = []
    for e in exs:
        u = understand_text(model, e.subject, e.newest)
        out.append((u.is_complaint, u.category, u.severity))
    return out


def evaluate(model: Classifier, exs: list[Example]) -> Report:
    return _report(exs, model_predictions(model, exs), by_language=True)


def evaluate_baseline(exs: list[Example]) -> Report:
    return _report(exs, [baseline_predict(e.subject, e.newest) for e in exs], by_language=True)


def format_report(model_report: Report, baseline_report: Report,
                  scope: str = "Held-out test split: {n} messages (never used in training)") -> str:
    out = [scope.format(n=model_report.n), ""]
    out.append(model_report.complaint.table("== complaint detection (model)"))
    out.append(model_report.category.table("== category, on true complaints (model)"))
    out.append(model_report.severity.table("== severity, on true complaints (model)"))
    out.append(f"  severity exact {model_report.severity_exact:.3f}, within one level {model_report.severity_within_one:.3f}")
    out.append("")
    out.append("== per language (model)                 | keyword baseline")
    out.append(f"  {'language':<9} {'n':>4} {'c.rec':>6} {'c.F1':>6} {'cat.F1':>6} {'sev.ex':>6} {'sev±1':>6} | {'c.rec':>6} {'c.F1':>6} {'cat.F1':>6} {'sev.ex':>6}")
    rows = [("overall", model_report, baseline_report)] + [
        (lang, r, baseline_report.per_language.get(lang)) for lang, r in model_report.per_language.items()
    ]
    for name, r, b in rows:
        h = r.headline()
        line = f"  {name:<9} {r.n:4d} {h['complaint_recall']:6.3f} {h['complaint_f1']:6.3f} {h['category_macro_f1']:6.3f} {h['severity_exact']:6.3f} {h['severity_within_one']:6.3f}"
        if b is not None:
            hb = b.headline()
            line += f" | {hb['complaint_recall']:6.3f} {hb['complaint_f1']:6.3f} {hb['category_macro_f1']:6.3f} {hb['severity_exact']:6.3f}"
        out.append(line)
    out.append("")
    out.append(baseline_report.complaint.table("== complaint detection (keyword baseline)"))
    out.append(baseline_report.category.table("== category (keyword baseline)"))
    for lang, r in model_report.per_language.items():
        # The same tables for each language: a model that does well overall can still fail one script.
        out.append("")
        out.append(f"==== {lang}: {r.n} messages (model)")
        out.append(r.complaint.table(f"== complaint detection, {lang}"))
        out.append(r.category.table(f"== category, on true complaints, {lang}"))
        out.append(r.severity.table(f"== severity, on true complaints, {lang}"))
        out.append(f"  severity exact {r.severity_exact:.3f}, within one level {r.severity_within_one:.3f}")
    return "\n".join(out)


def corpus_false_alarms(model: Classifier, corpus: Path) -> tuple[int, list[tuple[str, str, float]]]:
    """Real mail that is (nearly) never a complaint: how often would staff be bothered for nothing?

    Runs the production path (parse, auto-mail skip, understand) on every file; returns the number
    of messages classified and the ones called complaints, for a person to check by hand.
    """
    from triage.parse import ParseError, parse_message
    from triage.understand import understand

    n = 0
    flagged: list[tuple[str, str, float]] = []
    for path in sorted(p for p in corpus.rglob("*") if p.is_file() and p.name != "SOURCE.txt"):
        try:
            msg = parse_message(path.read_bytes())
        except ParseError:
            continue
        n += 1
        u = understand(model, msg)
        if u.is_complaint:
            flagged.append((str(path.relative_to(corpus)), msg.subject[:60], u.confidence))
    return n, flagged


def _alnum(ref: str) -> str:
    import re

    return re.sub(r"[^0-9A-Za-z]", "", ref).upper()


def extraction_report(records: list[dict], scope: str = "the test split", model: Classifier | None = None) -> str:
    """How well references and the remedy asked for are extracted, against the labels (micro P/R/F1).

    A reference counts as found when its letters and digits appear in an extracted one, or the other
    way round ("PO 5521" labelled as "5521"), since writers of labels and of mail format them differently.
    With a model, the remedy is the product's own (patterns and the remedy heads); without, patterns only."""
    from triage.newest import newest_part
    from triage.nlp.extract import extract
    from triage.understand import asked_remedies

    ref_tp = ref_fp = ref_fn = rem_tp = rem_fp = rem_fn = 0
    for r in records:
        newest = r["_newest"] if "_newest" in r else newest_part(r["text"])
        ex = extract(newest)
        if model is not None and r.get("is_complaint"):
            pred = model.predict_many([model_text(r.get("subject", ""), newest)], force_complaint=True)[0]
            ex = replace(ex, remedy=asked_remedies(pred, ex.remedy))
        found = [_alnum(x) for x in ex.order_numbers + ex.bl_numbers + ex.awb_numbers + ex.containers + ex.tracking_numbers]
        gold = [_alnum(x) for x in r.get("refs", [])]
        matched_gold = {g for g in gold if any(g and (g in f or f in g) for f in found if f)}
        matched_found = {f for f in found if any(g and (g in f or f in g) for g in gold if g)}
        ref_tp += len(matched_gold)
        ref_fn += len(set(gold) - matched_gold)
        ref_fp += len(set(found) - matched_found)
        if r.get("is_complaint"):
            # "other" (a corrected invoice, a contact person...) is left to people, so it is not scored.
            got, want = set(ex.remedy) - {"other"}, set(r.get("remedy", [])) - {"other"}
            rem_tp += len(got & want)
            rem_fp += len(got - want)
            rem_fn += len(want - got)

    def prf(tp: int, fp: int, fn: int) -> str:
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        f = 2 * p * r / (p + r) if p + r else 0.0
        return f"precision {p:.3f}  recall {r:.3f}  F1 {f:.3f}  (found {tp + fp}, labelled {tp + fn})"

    return (f"== extraction on {scope} (micro)\n"
            f"  references (order/PO/contract/invoice, B/L, AWB, container, tracking): {prf(ref_tp, ref_fp, ref_fn)}\n"
            f"  remedy asked, on complaints (without 'other'):                        {prf(rem_tp, rem_fp, rem_fn)}")
