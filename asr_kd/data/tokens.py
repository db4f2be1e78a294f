"""CTC units: `units.txt` maps symbols to ids, `<blank>` = 0 and `<unk>` = 1. Characters (the space written
`<space>`), or sentencepiece subwords (BPE or unigram; `units.model` beside `units.txt`) whose word starts
carry the `▁` marker."""

from __future__ import annotations

import base64
import io
from pathlib import Path

from asr_kd.fileio import atomic_path, write_text

BLANK, UNK, SPACE = "<blank>", "<unk>", "<space>"
WORD = "\u2581"  # sentencepiece's word-start marker
SUBWORD_TYPES = ("bpe", "unigram")


class Units:
    """Symbol table for CTC targets. With `model` (a serialized sentencepiece model) the symbols are its
    pieces after `<blank>` (its `<unk>` is id 0, ours 1): text is split into subwords by sentencepiece and
    words start at pieces beginning with `▁`; without, each character is a unit and `<space>` separates words.
    Decoding needs only the symbols; encoding subwords needs the sentencepiece package."""

    def __init__(self, symbols: list[str], model: bytes | None = None):
        if symbols[:2] != [BLANK, UNK]:
            raise ValueError(f"units must start with {BLANK} 0 and {UNK} 1, got {symbols[:2]}")
        self.symbols = list(symbols)
        self.ids = {s: i for i, s in enumerate(self.symbols)}
        self.model = model
        self._sp = None  # the sentencepiece processor, loaded on the first encode

    def __len__(self) -> int:
        return len(self.symbols)

    @classmethod
    def build(cls, texts) -> "Units":
        """Units for every character seen in `texts`, sorted, after `<blank>` and `<unk>`."""
        chars = sorted({c for t in texts for c in t})
        return cls([BLANK, UNK] + [SPACE if c == " " else c for c in chars])

    @classmethod
    def train_subwords(cls, texts, vocab_size: int, model_type: str = "bpe") -> "Units":
        """Sentencepiece `model_type` units of about `vocab_size` pieces (fewer when the text has fewer)
        trained on `texts`; every character of the text is covered."""
        import sentencepiece as spm

        if model_type not in SUBWORD_TYPES:
            raise ValueError(f"subword type must be one of {SUBWORD_TYPES}, got {model_type!r}")
        out = io.BytesIO()
        spm.SentencePieceTrainer.train(sentence_iterator=iter(list(texts)), model_writer=out, vocab_size=vocab_size,
                                       model_type=model_type, bos_id=-1, eos_id=-1, unk_id=0, character_coverage=1.0,
                                       hard_vocab_limit=False, minloglevel=2)
        sp = spm.SentencePieceProcessor(model_proto=out.getvalue())
        return cls([BLANK] + [sp.id_to_piece(i) for i in range(sp.get_piece_size())], out.getvalue())

    @classmethod
    def read(cls, path: str | Path) -> "Units":
        """units.txt, and the sentencepiece model `units.model` beside it when there is one."""
        pairs = [line.split() for line in Path(path).read_text(encoding="utf-8").splitlines() if line]
        for n, pair in enumerate(pairs):
            if len(pair) != 2 or int(pair[1]) != n:
                raise ValueError(f"{path}:{n + 1}: expected '<symbol> {n}'")
        model_path = Path(path).with_suffix(".model")
        return cls([p[0] for p in pairs], model_path.read_bytes() if model_path.exists() else None)

    def write(self, path: str | Path) -> None:
        """units.txt (and units.model for subwords, written first)."""
        if self.model is not None:
            with atomic_path(Path(path).with_suffix(".model")) as tmp:
                tmp.write_bytes(self.model)
        write_text(path, "".join(f"{s} {i}\n" for i, s in enumerate(self.symbols)))

    def to_meta(self) -> dict:
        """What checkpoints and exports carry: the symbols and, for subwords, the model (base64)."""
        return {"units": list(self.symbols),
                "units_model": base64.b64encode(self.model).decode() if self.model is not None else None}

    @classmethod
    def from_meta(cls, meta: dict) -> "Units":
        model = meta.get("units_model")
        return cls(meta["units"], base64.b64decode(model) if model else None)

    def _processor(self):
        """The sentencepiece processor of `model`, checked against the symbols."""
        if self._sp is None:
            try:
                import sentencepiece as spm
            except ImportError:
                raise RuntimeError("encoding text into subword units needs the sentencepiece package "
                                   "(pip install sentencepiece)") from None
            sp = spm.SentencePieceProcessor(model_proto=self.model)
            if [sp.id_to_piece(i) for i in range(sp.get_piece_size())] != self.symbols[1:]:
                raise ValueError("the sentencepiece model does not match the unit symbols")
            self._sp = sp
        return self._sp

    def encode(self, text: str) -> list[int]:
        """Text -> ids; characters (or text) outside the units become `<unk>`."""
        if self.model is not None:
            return [i + 1 for i in self._processor().encode(text)]
        unk = self.ids[UNK]
        return [self.ids.get(SPACE if c == " " else c, unk) for c in text]

    def decode(self, ids) -> str:
        """Ids (already CTC-collapsed, no blanks) -> text, one space between words: a model may spell
        a pause `<space> <blank> <space>`, and every search keeps both spaces."""
        if self.model is not None:
            return " ".join("".join(self.symbols[i] for i in ids).replace(WORD, " ").split())
        return " ".join("".join(" " if s == SPACE else s for s in (self.symbols[i] for i in ids)).split())

    def word_spans(self, ids) -> list[tuple[int, int]]:
        """[a, b) ranges of `ids` that spell one word each: characters between `<space>`s, or subwords from
        one `▁`-piece to the next (a bare `▁` piece joins the word that follows)."""
        spans, start = [], None
        for i, k in enumerate(ids):
            sym = self.symbols[k]
            if self.model is None and sym == SPACE:
                if start is not None:
                    spans.append((start, i))
                start = None
                continue
            if self.model is not None and sym.startswith(WORD) and start is not None and self.decode(ids[start:i]):
                spans.append((start, i))
                start = None
            if start is None:
                start = i
        if start is not None and self.decode(ids[start:]):
            spans.append((start, len(ids)))
        return spans

    def boundary(self) -> int | None:
        """The id a decoder puts between words: `<space>`, or for subwords the bare `▁` piece (None: none)."""
        return self.ids.get(SPACE if self.model is None else WORD)
