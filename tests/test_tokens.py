"""Chinese words: what spaCy's Chinese pipeline and jieba would give, read the fast way."""
from __future__ import annotations

from pathlib import Path

import jieba
import pytest

import triage.nlp.tokens as tk
from triage.dataset import examples, load_records

ROOT = Path(__file__).resolve().parent.parent


def test_chinese_words_are_those_of_spacys_chinese_pipeline():
    """tokens() reads the words straight from the zh pipeline's jieba segmenter, skipping the Doc."""
    nlp = tk._chinese()
    for text in ("订单 ht-0301 的货柜到港了，但是提单还没放，甩柜两次", "貨櫃 msku0000000 到了 , 唛头印错 ! 客诉 0 件",
                 "hi amy，这批 led 灯有 0% 不亮，请尽快处理  谢谢"):
        doc_words = [t.text for t in nlp.tokenizer(text) if not tk._NOT_A_WORD.match(t.text)]
        assert tk.tokens(text) == doc_words


@pytest.fixture(scope="module")
def chinese_texts() -> list[str]:
    texts = [tk.normalise(e.text) for e in examples(load_records(ROOT / "training_data"))]
    return [t for t in texts if tk._HAN.search(t)]


def test_segmenter_gives_jiebas_own_words_on_every_chinese_training_text(chinese_texts):
    """The faster walk must cut exactly where jieba (accurate mode, no HMM) cuts, trade terms
    included, or the model would read words it was not trained on."""
    segmenter = tk._chinese().tokenizer.jieba_seg
    assert len(chinese_texts) > 1000
    for text in chinese_texts:
        assert list(segmenter.cut(text)) == list(jieba.cut(text, HMM=False)), text


@pytest.mark.parametrize("text", ["", "abc", "一", "货柜货柜货柜", "po0订单a0b", "①②③ ※ 😀 中文 \r\n 混合 english", "的的的的的的的的的的的的"])
def test_segmenter_matches_jieba_on_edge_cases(text):
    segmenter = tk._chinese().tokenizer.jieba_seg
    assert list(segmenter.cut(text)) == list(jieba.cut(text, HMM=False))
