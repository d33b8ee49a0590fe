"""Labelled history: corrections are recorded with who and when, and exported for retraining."""
from __future__ import annotations

import json
import subprocess
import sys

from conftest import ROOT, SAMPLE_MAILBOX
from triage.dataset import load_records, split_of


def run(*args):
    r = subprocess.run([sys.executable, "-m", "triage", *args], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_correct_then_export_for_training(tmp_path):
    db = f"sqlite:///{tmp_path / 'l.db'}"
    run("process", "--maildir", str(SAMPLE_MAILBOX), "--database", db)
    cases = [json.loads(x) for x in run("cases", "--database", db, "--json").splitlines()]
    ref = cases[0]["ref"]
    out = run("cases", "--database", db, "label", ref, "--category", "quality", "--severity", "critical", "--as", "Ana Lyst")
    assert "category" in out and "severity" in out
    run("cases", "--database", db, "label", cases[1]["ref"], "--confirm", "--as", "Ana Lyst")
    shown = run("cases", "--database", db, "show", ref)
    assert "label_corrected" in shown and "Ana Lyst" in shown
    target = tmp_path / "hist.jsonl"
    run("export-labels", "--database", db, "--out", str(target))
    recs = load_records(target)
    assert len(recs) == 2
    first = next(r for r in recs if r["id"] == f"hist-{ref}")
    assert first["category"] == "quality" and first["severity"] == "critical"
    assert all(split_of(r) == "train" for r in recs)  # history never leaks into the fixed test split
    checker = subprocess.run([sys.executable, str(ROOT / "scripts" / "validate_training_data.py"), str(target)],
                             capture_output=True, text=True)
    assert checker.returncode == 0, checker.stdout
