"""The models the GPU benchmark runs, with random weights: the five of shared/PEERS.md ("peers")
and a broader set of common architectures ("broad", issue 9's second bar). Each builder returns
(module, example inputs) on `device` in `dtype`; transformers models are built from configs (no
download), torchvision models with weights=None.

    broad: efficientnet_b0 (depthwise-separable, squeeze-excite), regnet_y_800mf (grouped, SE),
    resnext50_32x4d (grouped), densenet121 (dense concatenation), convnext_tiny (7x7 depthwise,
    layer norm, GELU), swin_t (window attention), lraspp_mobilenet_v3_large (segmentation head),
    llama (decoder-only: RMS norm, rotary embeddings, grouped-query attention), qwen2 (the same
    family with attention biases), roberta (encoder-only), distilbert (encoder-only, fused QKV
    style), t5_small (encoder-decoder, relative position bias), bart_base (encoder-decoder).
"""

from __future__ import annotations

import torch

PEERS = ["resnet50", "vit_b_16", "mobilenet_v3_large", "bert", "gpt2"]
TORCHVISION = ["resnet50", "vit_b_16", "mobilenet_v3_large", "efficientnet_b0", "regnet_y_800mf",
               "resnext50_32x4d", "densenet121", "convnext_tiny", "swin_t"]
SEGMENTATION = ["lraspp_mobilenet_v3_large"]
TRANSFORMERS = ["bert", "gpt2", "llama", "qwen2", "roberta", "distilbert", "t5_small", "bart_base"]
BROAD = ["efficientnet_b0", "regnet_y_800mf", "resnext50_32x4d", "densenet121", "convnext_tiny", "swin_t",
         "lraspp_mobilenet_v3_large", "llama", "qwen2", "roberta", "distilbert", "t5_small", "bart_base"]
ALL = PEERS + [m for m in BROAD if m not in PEERS]
SEQ = 128  # tokens per sequence for the transformers models


def _fill_zero_weights(model):
    """Zero-initialized layers (vit's head, some classifiers) would make every output 0."""
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1 and not p.any():
                p.normal_(0, 0.02)


class Seq2Seq(torch.nn.Module):
    """An encoder-decoder model called with (input_ids, decoder_input_ids) positionally."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, ids, decoder_ids):
        return self.model(input_ids=ids, decoder_input_ids=decoder_ids).last_hidden_state


def _transformers_model(name: str):
    import transformers as t

    if name == "bert":
        return t.BertModel(t.BertConfig()), 30522
    if name == "gpt2":
        return t.GPT2Model(t.GPT2Config()), 50257
    if name == "llama":  # a 1B-class shape cut to 8 layers: 32 query heads over 8 key/value heads
        cfg = t.LlamaConfig(hidden_size=2048, intermediate_size=5632, num_hidden_layers=8, num_attention_heads=32,
                            num_key_value_heads=8, vocab_size=32000, max_position_embeddings=2048)
        return t.LlamaModel(cfg), 32000
    if name == "qwen2":
        cfg = t.Qwen2Config(hidden_size=1536, intermediate_size=8960, num_hidden_layers=8, num_attention_heads=12,
                            num_key_value_heads=2, vocab_size=32000, max_position_embeddings=2048)
        return t.Qwen2Model(cfg), 32000
    if name == "roberta":
        return t.RobertaModel(t.RobertaConfig(vocab_size=50265, max_position_embeddings=514)), 50265
    if name == "distilbert":
        return t.DistilBertModel(t.DistilBertConfig()), 30522
    if name == "t5_small":
        return Seq2Seq(t.T5Model(t.T5Config(d_model=512, d_ff=2048, num_layers=6, num_heads=8))), 32128
    if name == "bart_base":
        return Seq2Seq(t.BartModel(t.BartConfig(d_model=768, encoder_layers=6, decoder_layers=6))), 50265
    raise SystemExit(f"unknown model {name!r}; choose from {ALL}")


def _calibrate_batch_norms(model, x):
    """Sets every batch norm's running statistics to those of one float32 pass over `x` (random images). With random
    weights and the default statistics (mean 0, variance 1) activations shrink layer by layer, and
    deep networks (EfficientNet, MobileNetV3) put out exactly 0 in float16, which any engine would
    match; calibrated, their outputs have unit scale and the benchmark's comparison means something."""
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average: after one pass, that pass's statistics
    model.train()
    with torch.no_grad():
        model(x)
    model.eval()


def make_model(name: str, batch: int, device: str = "cuda", dtype: torch.dtype = torch.float16):
    """(module, example inputs) in `dtype` on `device`, random weights (seeded; batch norm statistics
    calibrated on the input)."""
    torch.manual_seed(0)
    if name in TORCHVISION or name in SEGMENTATION:
        import torchvision

        ns = torchvision.models.segmentation if name in SEGMENTATION else torchvision.models
        kwargs = {"weights_backbone": None} if name in SEGMENTATION else {}
        model = getattr(ns, name)(weights=None, **kwargs)
        _fill_zero_weights(model)
        x = torch.randn(batch, 3, 224, 224)
        model = model.to(device)
        _calibrate_batch_norms(model, torch.randn(4, 3, 224, 224, generator=torch.Generator().manual_seed(1)).to(device))
        return model.eval().to(device, dtype), (x.to(device, dtype),)
    model, vocab = _transformers_model(name)
    ids = torch.randint(0, vocab, (batch, SEQ))
    inputs = (ids.to(device),)
    if isinstance(model, Seq2Seq):
        inputs += (torch.randint(0, vocab, (batch, SEQ)).to(device),)
    return model.eval().to(device, dtype), inputs


def first_tensor(out):
    """The model's main output tensor (last_hidden_state for transformers models, "out" for
    torchvision's segmentation models)."""
    if isinstance(out, torch.Tensor):
        return out
    if hasattr(out, "last_hidden_state"):
        return out.last_hidden_state
    if isinstance(out, dict):
        return first_tensor(out["out"] if "out" in out else next(iter(out.values())))
    if isinstance(out, (tuple, list)):
        return first_tensor(out[0])
    raise TypeError(f"cannot find an output tensor in {type(out).__name__}")
