"""Languages: which one a document is written in, what a model covers, and what to say when it
does not cover the corpus.

Documents are identified by CLD2 (pycld2: Chrome's compact detector, C++, 165 languages, tables in
the wheel) when it is sure, else by py3langid (langid.py's model of 140 languages, numpy only). On
the six judged corpora below CLD2 was sure of 88 % of the documents and named every one of them
as py3langid did (107 title-only records py3langid left undetermined it called English, which
gets them the same BM25), at a tenth of the cost: 0.32 s against 3.2 s for 12,335 documents,
which made detection the largest share of the engine's time. A document whose best py3langid
language has a probability under ``MIN_CONFIDENCE`` is ``und`` (undetermined): on six judged corpora (English,
German, Chinese) that threshold left no document with a wrong language, only short title-only
records undetermined. Undetermined documents get the English BM25 every index used before
languages were detected, so English corpora keep their vectors bit for bit.

Codes are ISO 639-1 where one exists (``en``, ``de``, ``zh``), else the detector's 639-3 code.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

UNDETERMINED = "und"
# A document's language from its first 1,000 characters: on the six judged corpora (13,335
# documents) 1,000 and 3,000 gave the same language for every document, and identification
# (a pure-Python walk over the bytes) took 44 % less time on SciFact.
PREFIX_CHARS = 1000
MIN_CONFIDENCE = 0.75
# CLD2's answer is taken when it calls itself reliable, gives the language this share of the text
# and saw this many bytes of letters; shorter or mixed texts go to py3langid (CLD2 called a
# 30-byte title "COBOL / Authors: Cunningham" Latin, a German text full of English team names
# English at 75 %).
CLD2_PERCENT = 80
CLD2_MIN_BYTES = 100
# py3langid splits Mandarin between zh and wuu (Wu); Norwegian comes as no, nb or nn.
# CLD2 still spells Hebrew iw and Javanese jw.
_FOLD = {"wuu": "zh", "cmn": "zh", "nb": "no", "nn": "no", "zxx": UNDETERMINED, "iw": "he", "jw": "jv"}
# A multilingual model that covers the common languages, to name in the advice.
MULTILINGUAL_EXAMPLE = "paraphrase-multilingual-MiniLM-L12-v2"
# A language under this share of the documents (and not the main one) is not worth a warning.
WARN_SHARE = 0.2

NAMES = {
    "af": "Afrikaans", "am": "Amharic", "ar": "Arabic", "az": "Azerbaijani", "be": "Belarusian", "bg": "Bulgarian",
    "bn": "Bengali", "bs": "Bosnian", "ca": "Catalan", "cs": "Czech", "cy": "Welsh", "da": "Danish", "de": "German",
    "el": "Greek", "en": "English", "eo": "Esperanto", "es": "Spanish", "et": "Estonian", "eu": "Basque",
    "fa": "Persian", "fi": "Finnish", "fr": "French", "ga": "Irish", "gl": "Galician", "gu": "Gujarati",
    "he": "Hebrew", "hi": "Hindi", "hr": "Croatian", "hu": "Hungarian", "hy": "Armenian", "id": "Indonesian",
    "is": "Icelandic", "it": "Italian", "ja": "Japanese", "ka": "Georgian", "kk": "Kazakh", "km": "Khmer",
    "kn": "Kannada", "ko": "Korean", "ky": "Kyrgyz", "la": "Latin", "lb": "Luxembourgish", "lo": "Lao",
    "lt": "Lithuanian", "lv": "Latvian", "mk": "Macedonian", "ml": "Malayalam", "mn": "Mongolian", "mr": "Marathi",
    "ms": "Malay", "mt": "Maltese", "my": "Burmese", "ne": "Nepali", "nl": "Dutch", "no": "Norwegian",
    "pa": "Punjabi", "pl": "Polish", "ps": "Pashto", "pt": "Portuguese", "ro": "Romanian", "ru": "Russian",
    "si": "Sinhala", "sk": "Slovak", "sl": "Slovene", "sq": "Albanian", "sr": "Serbian", "sv": "Swedish",
    "sw": "Swahili", "ta": "Tamil", "te": "Telugu", "tg": "Tajik", "th": "Thai", "tl": "Tagalog", "tr": "Turkish",
    "uk": "Ukrainian", "ur": "Urdu", "uz": "Uzbek", "vi": "Vietnamese", "yue": "Cantonese", "zh": "Chinese",
    UNDETERMINED: "undetermined",
}


def name(code: str) -> str:
    """A language's English name (the code itself when it has none here)."""
    return NAMES.get(code, code)


def normalize(code: str) -> str:
    """One spelling per language: lower case, no region (``zh-CN`` -> ``zh``), folded aliases."""
    base = code.strip().lower().replace("_", "-").split("-")[0]
    return _FOLD.get(base, base)


@lru_cache(maxsize=1)
def _identifier() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def detect(text: str) -> str:
    """The language of a document, from its first ``PREFIX_CHARS`` characters; ``und`` when it has
    no letters or no language is likely enough."""
    sample = text[:PREFIX_CHARS]
    if not any(ch.isalpha() for ch in sample):
        return UNDETERMINED
    quick = _cld2(sample)
    if quick is not None:
        return quick
    identifier = _identifier()
    code, p = identifier.classify(sample)
    if p >= MIN_CONFIDENCE:  # most documents: the rest share < 0.25, so folding cannot change the winner
        return normalize(code)
    scores: dict[str, float] = {}
    for code, p in identifier.rank(sample):
        folded = normalize(code)
        scores[folded] = scores.get(folded, 0.0) + p
    best = max(scores, key=scores.__getitem__)
    return best if scores[best] >= MIN_CONFIDENCE else _by_script(sample)


@lru_cache(maxsize=1)
def _pycld2() -> Any:
    """pycld2, or None where it has no wheel (asked once, not per document)."""
    try:
        import pycld2
    except ImportError:
        return None
    return pycld2


def _cld2(sample: str) -> str | None:
    """CLD2's language for the sample when it is sure of it, else None (also without pycld2, which
    is only a faster path: py3langid answers every text on its own)."""
    pycld2 = _pycld2()
    if pycld2 is None:
        return None
    try:
        reliable, found, ((_, code, percent, _), *_) = pycld2.detect(sample, isPlainText=True)  # else '< 10 mm' opens a tag
    except pycld2.error:  # CLD2 refuses some code points (C1 controls) as invalid UTF-8
        return None
    if not (reliable and percent >= CLD2_PERCENT and found >= CLD2_MIN_BYTES):
        return None
    folded = normalize(code)
    # Only the common languages named here: for rarer ones (and CLD2's "un", "xx-Goth"), py3langid
    # decides, as it did before CLD2 was asked.
    return folded if folded in NAMES and folded != UNDETERMINED else None


def _by_script(sample: str) -> str:
    """A short text the model is unsure of, mostly in Chinese characters (a title such as 故宫):
    Chinese, or Japanese when it has kana, so its BM25 still segments it; else undetermined."""
    letters = [ch for ch in sample if ch.isalpha()]
    han = sum("\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff" for ch in letters)
    kana = sum("\u3040" <= ch <= "\u30ff" for ch in letters)
    if letters and (han + kana) / len(letters) >= 0.5:
        return "ja" if kana else "zh"
    return UNDETERMINED


# --- a corpus's profile against a model's languages ------------------------------------------------


def main_language(counts: Mapping[str, int]) -> str | None:
    """The language most documents are in (undetermined ones left out); None when none is known."""
    known = {c: n for c, n in counts.items() if c != UNDETERMINED and n > 0}
    return max(sorted(known), key=known.__getitem__) if known else None


def covers(model_languages: Iterable[str] | None, code: str) -> bool:
    """Whether a model trained on ``model_languages`` covers ``code``: a model whose languages are
    unknown, or that says it is multilingual, covers every language."""
    if model_languages is None:
        return True
    known = {normalize(c) for c in model_languages}
    return "multilingual" in known or normalize(code) in known


def uncovered(counts: Mapping[str, int], model_languages: Iterable[str] | None) -> dict[str, int]:
    """Documents per detected language that the model does not cover."""
    langs = None if model_languages is None else tuple(model_languages)
    return {c: n for c, n in counts.items() if c != UNDETERMINED and n > 0 and not covers(langs, c)}


def uncovered_share(counts: Mapping[str, int], model_languages: Iterable[str] | None) -> float:
    """The share of all documents that are in a detected language the model does not cover (0.0
    when the model's languages are unknown). Undetermined documents count in the whole: a few
    detected ones among many made-up words or tables of numbers do not make a corpus foreign."""
    total = sum(counts.values())
    return sum(uncovered(counts, model_languages).values()) / total if total else 0.0


def coverage_warning(counts: Mapping[str, int], model_languages: Iterable[str] | None, model: str) -> str | None:
    """One line when documents in languages the model does not cover make up ``WARN_SHARE`` or more
    of the corpus (its main language among them, or several smaller ones); None otherwise."""
    langs = None if model_languages is None else tuple(model_languages)
    missing = uncovered(counts, langs)
    total = sum(counts.values())
    if not missing or not total or uncovered_share(counts, langs) < WARN_SHARE:
        return None
    worst = sorted(missing, key=lambda c: (-missing[c], c))
    parts = [f"{name(c)} ({c}, {missing[c] / total:.0%} of documents)" for c in worst[:3]]
    named = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " or " + parts[-1]
    covered = ", ".join(name(normalize(c)) for c in langs or ()) or "other languages"
    return (f"{model} is a model for {covered}, not for {named}: dense search will rank these documents "
            f"poorly; use --mode sparse, or rebuild with a multilingual model (e.g. {MULTILINGUAL_EXAMPLE} in a "
            f"local folder) via --model DIR --rebuild")
