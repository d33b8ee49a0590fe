"""Check labelled-message JSONL files against the schema in training_data/README.md.

Run on any file an analyst or writer adds, before committing it: a bad line found here is
cheaper than a training run that silently skips it.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

LANGUAGES = {"en", "zh-Hans", "zh-Hant", "mixed"}
CATEGORIES = {"late_delivery", "wrong_goods", "damage", "quality", "billing", "unreachable_staff"}
SEVERITIES = {"low", "medium", "high", "critical"}
REMEDIES = {"replacement", "refund", "discount", "return", "compensation", "repair", "reshipment", "other"}
REQUIRED = {"id", "language", "is_complaint", "category", "secondary", "severity", "remedy", "refs"}
# Either the message itself (subject, sender, text) or "eml": a path, relative to the JSONL file, to
# the message as saved from a mail client; subject and sender then come from the message.


def check_record(rec: dict) -> list[str]:
    errs: list[str] = []
    missing = REQUIRED - rec.keys()
    if missing:
        errs.append(f"missing keys {sorted(missing)}")
        return errs
    if rec["language"] not in LANGUAGES:
        errs.append(f"language {rec['language']!r} not in {sorted(LANGUAGES)}")
    if "eml" in rec:
        if not isinstance(rec["eml"], str) or not rec["eml"].strip():
            errs.append("eml must be a path to a saved message")
    else:
        for key in ("subject", "sender", "text"):
            if key not in rec:
                errs.append(f"missing key {key!r} (or give 'eml')")
        if not isinstance(rec.get("text"), str) or not rec.get("text", "").strip():
            errs.append("text is empty")
    if not isinstance(rec["is_complaint"], bool):
        errs.append("is_complaint must be true or false")
    elif rec["is_complaint"]:
        if rec["category"] not in CATEGORIES:
            errs.append(f"category {rec['category']!r} not in {sorted(CATEGORIES)}")
        if rec["severity"] not in SEVERITIES:
            errs.append(f"severity {rec['severity']!r} not in {sorted(SEVERITIES)}")
    else:
        if rec["category"] is not None:
            errs.append("a non-complaint has category null")
        if rec["severity"] != "none":
            errs.append("a non-complaint has severity 'none'")
        if rec["secondary"]:
            errs.append("a non-complaint has no secondary categories")
    if not isinstance(rec["secondary"], list) or any(c not in CATEGORIES for c in rec["secondary"]):
        errs.append("secondary must be a list of categories")
    elif rec["category"] in rec["secondary"]:
        errs.append("secondary repeats the primary category")
    if not isinstance(rec["remedy"], list) or any(r not in REMEDIES for r in rec["remedy"]):
        errs.append(f"remedy must be a list drawn from {sorted(REMEDIES)}")
    if not isinstance(rec["refs"], list) or not all(isinstance(r, str) for r in rec["refs"]):
        errs.append("refs must be a list of strings")
    return errs


def main(paths: list[str]) -> int:
    bad = 0
    seen: dict[str, str] = {}
    for p in paths:
        for n, line in enumerate(Path(p).read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                print(f"{p}:{n}: not JSON: {e}")
                bad += 1
                continue
            errs = check_record(rec)
            if isinstance(rec.get("eml"), str) and not (Path(p).parent / rec["eml"]).is_file():
                errs.append(f"eml {rec['eml']!r} not found next to {p}")
            rid = rec.get("id")
            if rid in seen:
                errs.append(f"id {rid} already used in {seen[rid]}")
            seen[rid] = f"{p}:{n}"
            for e in errs:
                print(f"{p}:{n}: {rid}: {e}")
            bad += bool(errs)
    print(f"{len(seen)} records, {bad} with problems")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
