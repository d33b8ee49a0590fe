"""Training data, the fixed split, training, saving, loading and evaluating the model."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from conftest import ROOT
from triage.dataset import examples, load_records, split, split_of
from triage.nlp.classifier import Classifier, IncompatibleModel, load_model
from triage.training import evaluate, evaluate_baseline, format_report, train_model

DATA = ROOT / "training_data" / "messages"


@pytest.fixture(scope="module")
def records():
    return load_records(DATA)


def test_every_record_is_valid():
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "validate_training_data.py"), *map(str, sorted(DATA.glob("*.jsonl")))],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-3000:]


def test_split_is_fixed_disjoint_and_big_enough(records):
    train, test = split(records)
    assert {r["id"] for r in train}.isdisjoint({r["id"] for r in test})
    assert len(test) >= 0.2 * len(records)
    # A pure function of the id: re-ordering or re-reading the files never moves a record.
    assert all(split_of(dict(r)) == split_of({"id": r["id"]}) for r in records if "split" not in r)
    for lang in ("en", "zh-Hans", "zh-Hant", "mixed"):
        assert any(r["language"] == lang for r in test), lang


def test_no_near_duplicates_across_train_and_test(records):
    """A test message that is a near copy of a training one would flatter the figures."""
    train, test = split(records)
    ex_train, ex_test = examples(train), examples(test)
    vec = TfidfVectorizer(analyzer="char", ngram_range=(5, 5), min_df=1).fit([e.newest for e in ex_train + ex_test])
    sims = vec.transform([e.newest for e in ex_test]) @ vec.transform([e.newest for e in ex_train]).T
    sims = sims.tocoo()
    pairs = [(ex_test[i].id, ex_train[j].id, round(v, 3)) for i, j, v in zip(sims.row, sims.col, sims.data)
             if v > 0.9 and len(ex_test[i].newest) > 40]
    assert pairs == [], pairs[:10]


@pytest.fixture(scope="module")
def small(tmp_path_factory, records):
    """A model trained on a quarter of the data: small but complete (every language and category,
    both splits), with its scikit-learn estimators at hand for the tests that compare against them."""
    tmp = tmp_path_factory.mktemp("small")
    small_dir = tmp / "data"
    small_dir.mkdir()
    keep = [r for i, r in enumerate(records) if i % 4 == 0]
    (small_dir / "sample.jsonl").write_text("\n".join(json.dumps({k: v for k, v in r.items() if k != "_file"},
                                                                 ensure_ascii=False) for r in keep), encoding="utf-8")
    lines: list[str] = []
    model, meta = train_model(small_dir, tmp / "m.joblib", progress=lines.append)
    return {"dir": small_dir, "out": tmp / "m.joblib", "model": model, "meta": meta, "lines": lines, "records": keep}


def test_train_save_load_and_evaluate_small(tmp_path, small):
    out, meta, keep = small["out"], small["meta"], small["records"]
    assert any("fitting" in line for line in small["lines"])  # progress is shown
    assert meta["train_size"] + meta["test_size"] == len(keep)
    saved = json.loads(out.with_suffix(".json").read_text())
    assert saved["data_hash"] == meta["data_hash"] and saved["libraries"]["scikit-learn"]
    loaded = load_model(out)
    assert isinstance(loaded, Classifier)
    assert loaded.predict("Subject\nThe cartons arrived crushed and wet, 40 of 200 broken").is_complaint
    # Same seed, same data: the same model decisions.
    again, _ = train_model(small["dir"], tmp_path / "m2.joblib", progress=lambda s: None)
    probe = ["Re: PO 1\nstill not shipped, three weeks late", "Quote\nplease quote 500 pcs FOB"]
    assert [p.complaint_probability for p in again.predict_many(probe)] == [p.complaint_probability for p in loaded.predict_many(probe)]
    _, test = split(keep)
    report = format_report(evaluate(loaded, examples(test)), evaluate_baseline(examples(test)))
    assert "confusion" in report and "keyword baseline" in report and "zh-Hant" in report
    assert "== category, on true complaints, zh-Hant" in report  # per-class tables for each language too


def test_the_saved_model_needs_no_scikit_learn(small):
    """The worker loads and runs the model without importing scikit-learn or scipy: over 80 MB of
    memory it would otherwise carry for months."""
    code = ("import sys; from triage.nlp.classifier import load_model; from triage.understand import understand_text; "
            f"m = load_model({str(small['out'])!r}); "
            "u = understand_text(m, 'PO 4471', '40 of 200 cartons arrived crushed, we want a refund'); "
            "assert u.is_complaint, u; "
            "bad = [n for n in sys.modules if n.split('.')[0] in ('sklearn', 'scipy')]; "
            "assert not bad, bad")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]


def test_model_from_another_sklearn_is_refused(tmp_path):
    src = ROOT / "models" / "triage-model.joblib"
    dst = tmp_path / "m.joblib"
    dst.write_bytes(src.read_bytes())
    meta = json.loads(src.with_suffix(".json").read_text())
    meta["sklearn"] = "0.24.2"
    dst.with_suffix(".json").write_text(json.dumps(meta))
    with pytest.raises(IncompatibleModel, match="scikit-learn 0.24.2"):
        load_model(dst)


def test_bundled_model_meets_floors_on_the_test_split(model, records):
    """The figures `triage eval` prints, held to the floors the product promises."""
    _, test = split(records)
    assert model.remedy_kinds == ["replacement", "refund", "discount", "return", "compensation", "repair", "reshipment"]
    h = evaluate(model, examples(test)).headline()
    assert h["complaint_recall"] >= 0.95, h
    assert h["complaint_f1"] >= 0.85, h
    assert h["category_macro_f1"] >= 0.75, h
    assert h["severity_within_one"] >= 0.9, h


def test_prediction_features_equal_the_fitted_pipelines(small, records):
    """Prediction builds feature rows itself (no scikit-learn validation, no scipy per message);
    they must be exactly the rows the fitted FeatureUnion builds, or the weights mean something else."""
    from triage.nlp.features import char_wb_ngrams, model_text
    from triage.nlp.tokens import normalise

    model = small["model"]

    _, test = split(records)
    texts = [model_text(e.subject, e.newest) for e in examples(test)[::3]]
    texts += ["", "!!", "短", "PO 4471 ２０ｐｃｓ 貨櫃 damaged\n\n  ok", "x" * 7000, "cartons crushed 😡 again", "a b c 𠀋"]
    reference = model.features.transform([t[:6000] for t in texts])
    fast = model.transform(texts)
    assert fast.shape == reference.shape
    assert abs(fast - reference).max() < 1e-12
    chars = model.features.transformer_list[0][1].named_steps["ngrams"].transformer_list[1][1]
    analyser = chars.build_analyzer()
    for t in texts:
        assert char_wb_ngrams(normalise(t)) == analyser(normalise(t))
    # The packed numpy path counts exactly what the string path counts, and steps aside outside the BMP.
    index = model.classifier._char_index()
    vocab = chars.vocabulary_
    for t in texts:
        doc = normalise(t[:6000])
        fast_counts = index.count(doc)
        if any(ord(c) > 0xFFFE for c in doc):
            assert fast_counts is None
            continue
        slow = dict(zip(*model.classifier._count(char_wb_ngrams(doc), vocab)))
        assert dict(zip(fast_counts[0].tolist(), fast_counts[1].tolist())) == {int(k): float(v) for k, v in slow.items()}
    one = model.predict(texts[0])
    assert one == model.predict_many(texts[:2])[0]


def test_fast_scores_equal_the_heads_own(small, records):
    """The stacked weights score exactly as each fitted scikit-learn head does: complaint margin,
    category and severity-step and remedy probabilities."""
    import numpy as np

    from triage.nlp.classifier import _sigmoid
    from triage.nlp.features import model_text

    model = small["model"]

    _, test = split(records)
    texts = [model_text(e.subject, e.newest) for e in examples(test) if e.is_complaint][:40]
    X = model.features.transform([t[:6000] for t in texts])
    preds = model.predict_many(texts, force_complaint=True)
    a, b = model.platt_
    p_c = _sigmoid(a * model.complaint_clf.decision_function(X) + b)
    cat = model.category_clf.predict_proba(X)
    steps = np.column_stack([h.predict_proba(X)[:, 1] for h in model.severity_steps])
    rem = np.column_stack([h.predict_proba(X)[:, 1] for h in model.remedy_heads])
    assert len(model.remedy_kinds) >= 5 and model.classifier.remedy_kinds == model.remedy_kinds
    for i, p in enumerate(preds):
        assert abs(p.complaint_probability - p_c[i]) < 1e-9
        assert p.category == model.category_clf.classes_[cat[i].argmax()]
        assert p.severity == ("low", "medium", "high", "critical")[int((steps[i] > 0.5).sum())]
        assert np.allclose([v for _, v in p.remedy_probability], rem[i], atol=1e-9)


def test_an_outside_set_with_a_language_without_complaints_is_scored(model, records):
    """`triage eval --all` on someone else's labelled mail: a language may come with no complaint at
    all (a handful of English notes in a Chinese set). Its tables read zero; the rest is scored."""
    exs = examples([r for r in records if r["language"] == "zh-Hant"][:40]
                   + [r for r in records if r["language"] == "en" and not r["is_complaint"]][:5])
    report = evaluate(model, exs)
    assert report.per_language["en"].category.support.sum() == 0
    assert report.per_language["zh-Hant"].category.support.sum() > 0
    assert "== category, on true complaints, en" in format_report(report, evaluate_baseline(exs))
