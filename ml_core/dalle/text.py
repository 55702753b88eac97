"""The text tokenizer: byte-pair encoding trained on the world's captions, fixed length with padding.

As in DALL·E, every caption becomes exactly `text_len` ids: [BOS] caption [EOS] [PAD]... (truncated
captions keep their [EOS]). The empty caption ([BOS][EOS][PAD]...) is the unconditional input used
for caption dropout in training and for classifier-free guidance at sampling.
"""
from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

PAD, BOS, EOS, UNK = "[PAD]", "[BOS]", "[EOS]", "[UNK]"
SPECIALS = [PAD, BOS, EOS, UNK]  # ids 0..3


def train_bpe(texts, vocab_size: int = 512) -> Tokenizer:
    """A lowercase, whitespace/punctuation-split BPE with the special tokens at ids 0..3."""
    tok = Tokenizer(models.BPE(unk_token=UNK))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Whitespace()])
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS, show_progress=False)
    tok.train_from_iterator(texts, trainer)
    return tok


class TextTokenizer:
    """`encode(captions)` -> LongTensor (B, text_len); `decode(ids)` -> str."""

    def __init__(self, tokenizer: Tokenizer, text_len: int):
        self.tok, self.text_len = tokenizer, text_len
        self.pad_id, self.bos_id, self.eos_id = (tokenizer.token_to_id(t) for t in (PAD, BOS, EOS))

    @property
    def vocab_size(self) -> int:
        return self.tok.get_vocab_size()

    @classmethod
    def load(cls, path: str | Path, text_len: int) -> "TextTokenizer":
        return cls(Tokenizer.from_file(str(path)), text_len)

    def save(self, path: str | Path) -> None:
        self.tok.save(str(path))

    def encode(self, captions: list[str] | str) -> torch.Tensor:
        if isinstance(captions, str):
            captions = [captions]
        out = torch.full((len(captions), self.text_len), self.pad_id, dtype=torch.long)
        for i, enc in enumerate(self.tok.encode_batch(list(captions), add_special_tokens=False)):
            ids = [self.bos_id] + enc.ids[: self.text_len - 2] + [self.eos_id]
            out[i, : len(ids)] = torch.tensor(ids)
        return out

    def lengths(self, captions: list[str]) -> list[int]:
        """Untruncated lengths with BOS/EOS (to choose text_len)."""
        return [len(e.ids) + 2 for e in self.tok.encode_batch(list(captions), add_special_tokens=False)]

    def decode(self, ids: torch.Tensor) -> str:
        keep = [int(i) for i in ids if int(i) not in (self.pad_id, self.bos_id, self.eos_id)]
        return self.tok.decode(keep)
