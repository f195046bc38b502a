"""A BERT-style encoder (embeddings, post-norm transformer layers with scaled dot-product
attention and a GELU MLP, a pooler), small enough for CPU tests, written out so that tests and the
demo need no model download."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class EncoderLayer(nn.Module):
    def __init__(self, hidden: int, heads: int, ffn: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.proj = nn.Linear(hidden, hidden)
        self.norm1 = nn.LayerNorm(hidden)
        self.fc1 = nn.Linear(hidden, ffn)
        self.fc2 = nn.Linear(ffn, hidden)
        self.norm2 = nn.LayerNorm(hidden)

    def forward(self, x, mask=None):
        b, s, h = x.shape
        q, k, v = self.qkv(x).view(b, s, 3, self.heads, h // self.heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        x = self.norm1(x + self.proj(a.transpose(1, 2).reshape(b, s, h)))
        return self.norm2(x + self.fc2(F.gelu(self.fc1(x))))


class BertEncoder(nn.Module):
    """Token + position embeddings, `layers` encoder layers, a tanh pooler over the first token."""

    def __init__(self, vocab: int = 1000, hidden: int = 128, heads: int = 4, layers: int = 2, ffn: int = 512,
                 max_len: int = 128) -> None:
        super().__init__()
        self.tokens = nn.Embedding(vocab, hidden)
        self.positions = nn.Embedding(max_len, hidden)
        self.norm = nn.LayerNorm(hidden)
        self.layers = nn.ModuleList(EncoderLayer(hidden, heads, ffn) for _ in range(layers))
        self.pool = nn.Linear(hidden, hidden)

    def forward(self, ids):
        pos = torch.arange(ids.shape[1], device=ids.device)
        x = self.norm(self.tokens(ids) + self.positions(pos))
        for layer in self.layers:
            x = layer(x)
        return x, torch.tanh(self.pool(x[:, 0]))


def random_bert(seed: int = 0, **kwargs) -> BertEncoder:
    """A BertEncoder in eval mode with random weights."""
    torch.manual_seed(seed)
    return BertEncoder(**kwargs).eval()
