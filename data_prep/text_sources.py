"""Offline English sentences from Debian text packages, normalised for character CTC.

Sources (each optional; a missing one is skipped with a warning):
  fortunes  fortune-mod + fortunes  /usr/share/games/fortunes/* (cookies split on '%')
  wordnet   wordnet-base            quoted example sentences in /usr/share/wordnet/data.*
  kjv       bible-kjv               `bible -f 'gen1:1-rev22:21'`, verse references stripped
  web       sword-text-web libsword-utils   World English Bible, `mod2imp engWEB2015eb`, OSIS markup
            stripped (install with --no-install-recommends)

Normalised sentences use only A-Z, apostrophe and single spaces, so the text fed to the
synthesiser is exactly the transcript (no digits, symbols or abbreviations the TTS would expand).
"""

from __future__ import annotations

import html
import logging
import re
import shutil
import subprocess
from pathlib import Path
from typing import Callable

log = logging.getLogger(__name__)

FORTUNE_DIR = Path("/usr/share/games/fortunes")
WORDNET_DIR = Path("/usr/share/wordnet")
WEB_MODULE = "engWEB2015eb"
MIN_WORDS, MAX_WORDS = 4, 25

# Characters that a TTS engine would speak as words ("&" -> "and"); such sentences are dropped.
_SPOKEN_SYMBOLS = re.compile(r"[&%$@#+=<>/\\*^~|_{}\[\]]")
# Tokens espeak-ng/flite expand or spell out, so the audio would not match the letters.
_EXPANDED = {"MR", "MRS", "MS", "DR", "ST", "JR", "SR", "VS", "ETC", "CO", "LTD", "INC", "MT", "FT"}
_ROMAN = re.compile(r"^M{0,3}(CM|CD|D?C{0,3})(XC|XL|L?X{0,3})(IX|IV|V?I{0,3})$")
_ROMAN_WORDS = {"MIX", "I"}
_SENTENCE_END = re.compile(r"[.!?;:]+(?=\s|$)|\s--\s")


class NoTextError(RuntimeError):
    """No text source is installed."""


def _speakable(token: str) -> bool:
    """False for tokens the synthesisers would not read letter-for-letter as one word."""
    if token in _EXPANDED or (_ROMAN.match(token) and token not in _ROMAN_WORDS):
        return False
    if len(token) == 1:
        return token in ("A", "I", "O")
    return any(v in token for v in "AEIOUY")  # vowel-less tokens (HMM, TV) get spelled out


def normalise(text: str) -> str | None:
    """Return the CTC form of one sentence (A-Z, ' and spaces, 4-25 words), or None to drop it."""
    if not text.isascii() or any(c.isdigit() for c in text) or _SPOKEN_SYMBOLS.search(text):
        return None
    text = re.sub(r"[^A-Za-z']", " ", text)  # punctuation, hyphens and quotes become spaces
    text = re.sub(r"(?<![A-Za-z])'|'(?![A-Za-z])", " ", text)  # keep only word-internal '
    words = text.upper().split()
    if not MIN_WORDS <= len(words) <= MAX_WORDS or not all(map(_speakable, words)):
        return None
    return " ".join(words)


def split_sentences(text: str) -> list[str]:
    """Split running text at sentence/clause punctuation (. ! ? ; :) and spaced dashes."""
    return [s for s in _SENTENCE_END.split(" ".join(text.split())) if s.strip()]


def fortune_texts() -> list[str] | None:
    """Sentences from the fortune cookie files (attribution lines removed), None if not installed."""
    if not FORTUNE_DIR.is_dir():
        return None
    # Top-level files only (skips off/); .u8 names are symlinks to the same files.
    files = sorted({p.resolve() for p in FORTUNE_DIR.iterdir() if p.is_file() and p.suffix != ".dat"})
    out: list[str] = []
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        for cookie in re.split(r"^%[ \t]*$", text, flags=re.M):
            cookie = re.sub(r"\n\s*--.*", "", cookie, flags=re.S)  # "\t-- Author" to the end
            out.extend(split_sentences(cookie))
    return out or None


def wordnet_texts() -> list[str] | None:
    """Quoted example sentences from the WordNet glosses, None if not installed."""
    files = sorted(WORDNET_DIR.glob("data.*"))
    if not files:
        return None
    out: list[str] = []
    for path in files:
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            if line[:1].isdigit() and " | " in line:  # data lines; skips the licence header
                for example in re.findall(r'"([^"]+)"', line.split(" | ", 1)[1]):
                    out.extend(split_sentences(example))
    return out


def kjv_texts() -> list[str] | None:
    """Sentences of the King James Bible from bible-kjv, None if not installed."""
    if shutil.which("bible") is None:
        return None
    proc = subprocess.run(["bible", "-f", "gen1:1-rev22:21"], capture_output=True, text=True,
                          errors="replace", check=False)
    if proc.returncode != 0 or not proc.stdout.strip():
        return None
    out: list[str] = []
    for line in proc.stdout.splitlines():  # "Ge1:1 In the beginning ..."
        out.extend(split_sentences(re.sub(r"^\S*?\d+:\d+\s+", "", line)))
    return out


# OSIS markup of the WEB: footnotes, headings and speaker labels are not part of the verse text.
_OSIS_DROP = re.compile(r"<(note|title|speaker)\b[^>]*>.*?</\1>", re.S)
_OSIS_GLOSSARY = re.compile(r'<div [^>]*type="glossary".*')  # back matter after the last verse
_OSIS_WORD = re.compile(r"</?w\b[^>]*>")  # word tags sit inside words ("Rabbi</w>’s")
_TYPOGRAPHY = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "—": " -- ", "–": " -- "})


def web_texts() -> list[str] | None:
    """Sentences of the World English Bible exported from its SWORD module, None if not installed."""
    if shutil.which("mod2imp") is None:
        return None
    proc = subprocess.run(["mod2imp", WEB_MODULE], capture_output=True, text=True,
                          errors="replace", check=False)
    # Entries are "$$$Book C:V" lines followed by the verse; verse 0 holds introductions.
    verses = re.findall(r"^\$\$\$.* [1-9]\d*:[1-9]\d*\n(.*)$", proc.stdout, flags=re.M)
    if proc.returncode != 0 or not verses:
        return None
    text = " ".join(_OSIS_GLOSSARY.sub("", verse) for verse in verses)
    text = _OSIS_WORD.sub("", _OSIS_DROP.sub(" ", text))
    text = html.unescape(re.sub(r"<[^>]*>", " ", text)).translate(_TYPOGRAPHY)
    return split_sentences(text)  # sentences run across verse boundaries


SOURCES: dict[str, tuple[str, Callable[[], list[str] | None]]] = {
    "fortunes": ("fortune-mod fortunes", fortune_texts),
    "wordnet": ("wordnet-base", wordnet_texts),
    "kjv": ("bible-kjv", kjv_texts),
    "web": ("sword-text-web libsword-utils", web_texts),
}


def source_sentences(name: str) -> list[str] | None:
    """Sorted unique normalised sentences of one source, None if it is not installed."""
    raw = SOURCES[name][1]()
    if raw is None:
        return None
    return sorted({s for s in map(normalise, raw) if s is not None})


def load_sentences(exclude: tuple[str, ...] = ()) -> list[str]:
    """Sorted unique normalised sentences from every installed source not in exclude;
    NoTextError if none is."""
    found: set[str] = set()
    installed = 0
    for name, (package, _) in SOURCES.items():
        if name in exclude:
            continue
        sentences = source_sentences(name)
        if sentences is None:
            log.warning("text source %s not installed (apt-get install %s); skipping", name, package)
            continue
        installed += 1
        log.info("text source %s: %d sentences", name, len(sentences))
        found.update(sentences)
    if not installed:
        packages = " ".join(p for n, (p, _) in SOURCES.items() if n not in exclude)
        raise NoTextError(f"no text source installed; run: apt-get install {packages}")
    return sorted(found)
