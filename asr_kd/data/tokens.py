"""Character units: `units.txt` maps symbols to ids, `<blank>` = 0 and `<unk>` = 1."""

from __future__ import annotations

from pathlib import Path

from asr_kd.fileio import write_text

BLANK, UNK, SPACE = "<blank>", "<unk>", "<space>"


class Units:
    """Symbol table for CTC targets; the space character is written as `<space>`."""

    def __init__(self, symbols: list[str]):
        if symbols[:2] != [BLANK, UNK]:
            raise ValueError(f"units must start with {BLANK} 0 and {UNK} 1, got {symbols[:2]}")
        self.symbols = list(symbols)
        self.ids = {s: i for i, s in enumerate(self.symbols)}

    def __len__(self) -> int:
        return len(self.symbols)

    @classmethod
    def build(cls, texts) -> "Units":
        """Units for every character seen in `texts`, sorted, after `<blank>` and `<unk>`."""
        chars = sorted({c for t in texts for c in t})
        return cls([BLANK, UNK] + [SPACE if c == " " else c for c in chars])

    @classmethod
    def read(cls, path: str | Path) -> "Units":
        pairs = [line.split() for line in Path(path).read_text(encoding="utf-8").splitlines() if line]
        for n, pair in enumerate(pairs):
            if len(pair) != 2 or int(pair[1]) != n:
                raise ValueError(f"{path}:{n + 1}: expected '<symbol> {n}'")
        return cls([p[0] for p in pairs])

    def write(self, path: str | Path) -> None:
        write_text(path, "".join(f"{s} {i}\n" for i, s in enumerate(self.symbols)))

    def encode(self, text: str) -> list[int]:
        """Text -> ids; characters outside the table become `<unk>`."""
        unk = self.ids[UNK]
        return [self.ids.get(SPACE if c == " " else c, unk) for c in text]

    def decode(self, ids) -> str:
        """Ids (already CTC-collapsed, no blanks) -> text."""
        return "".join(" " if s == SPACE else s for s in (self.symbols[i] for i in ids))
