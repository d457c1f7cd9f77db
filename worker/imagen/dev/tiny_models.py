"""Tiny random-weight pipelines built in code, for tests and the demo (no model hub here).

They are saved with `save_pretrained` and loaded back through the same
`DiffusionPipeline.from_pretrained` path a real model id takes, so everything but the
weights is exercised. Weights come from a fixed torch seed: the same folder every time.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import string
from pathlib import Path

# The names IMAGEN_MODEL accepts for them, and what each builds.
TINY_KINDS = {"tiny": "tiny-flux", "tiny-flux": "tiny-flux", "tiny-sdxl": "tiny-sdxl"}

# Kept per version of this file (a change to an architecture builds the models anew), so a demo
# after the first starts without importing torch to build one.
VERSION = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]
CACHE_ROOT = Path.home() / ".cache" / "imagen" / f"tiny-models-{VERSION}"
# Latent 8x smaller than the picture, as in the real models, so 256 px stays cheap; four channels
# and no resnets in the blocks (the mid-block keeps its own), because the decoder's convolutions at
# full size are most of a 1024 px try on a CPU: 0.9 s a decode against 1.9 s with (8, 8, 8, 8) and
# a resnet a block (one thread, a busy machine).
VAE_BLOCKS = (4, 4, 4, 4)
CHARS = string.ascii_lowercase + string.digits + ",.!?'-"


def tiny_path(name: str, root: Path | None = None) -> Path:
    """The folder holding tiny model `name`, built on first use."""
    kind = TINY_KINDS.get(name)
    if kind is None:
        raise ValueError(f"unknown tiny model {name!r}: use one of {', '.join(TINY_KINDS)}")
    folder = (root or CACHE_ROOT) / kind
    if not (folder / "model_index.json").exists():
        build = build_tiny_flux if kind == "tiny-flux" else build_tiny_sdxl
        # Built aside and renamed into place, so a reader never sees half a model.
        tmp = folder.with_name(f"{folder.name}.{os.getpid()}.partial")
        build().save_pretrained(tmp)
        if folder.exists() and not (folder / "model_index.json").exists():
            shutil.rmtree(folder)  # what an interrupted earlier build left
        try:
            tmp.rename(folder)
        except OSError:  # another process finished first: keep theirs
            shutil.rmtree(tmp, ignore_errors=True)
    return folder


def clip_tokenizer():
    from transformers import CLIPTokenizer

    # Character-level BPE: every character is a token, with a word-final variant.
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for c in CHARS:
        vocab.setdefault(c, len(vocab))
        vocab.setdefault(c + "</w>", len(vocab))
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)


def t5_tokenizer():
    from transformers import T5Tokenizer

    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    vocab += [(c, -3.0) for c in CHARS] + [("▁" + c, -2.5) for c in CHARS]
    return T5Tokenizer(vocab=vocab, extra_ids=0, model_max_length=512)


def _clip_config():
    from transformers import CLIPTextConfig

    return CLIPTextConfig(
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=1,
        hidden_size=32,
        intermediate_size=37,
        num_attention_heads=4,
        num_hidden_layers=2,
        vocab_size=len(CHARS) * 2 + 2,
        projection_dim=32,
        hidden_act="gelu",
    )


def _vae(latent_channels: int, **kwargs):
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * len(VAE_BLOCKS),
        up_block_types=("UpDecoderBlock2D",) * len(VAE_BLOCKS),
        block_out_channels=VAE_BLOCKS,
        layers_per_block=0,
        latent_channels=latent_channels,
        norm_num_groups=4,
        sample_size=256,
        **kwargs,
    )


def build_tiny_flux():
    """FLUX architecture (transformer, 16-channel VAE, CLIP + T5) at a few thousand parameters."""
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel
    from transformers import CLIPTextModel, T5Config, T5EncoderModel

    torch.manual_seed(0)
    transformer = FluxTransformer2DModel(
        patch_size=1,
        in_channels=64,
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=32,
        pooled_projection_dim=32,
        axes_dims_rope=(4, 4, 8),
    )
    t5 = T5EncoderModel(T5Config(d_model=32, d_kv=8, d_ff=37, num_layers=2, num_heads=4, vocab_size=len(CHARS) * 2 + 4))
    pipe = FluxPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(shift=1.0),
        vae=_vae(16, shift_factor=0.0609, scaling_factor=1.5035, use_quant_conv=False, use_post_quant_conv=False),
        text_encoder=CLIPTextModel(_clip_config()),
        tokenizer=clip_tokenizer(),
        text_encoder_2=t5,
        tokenizer_2=t5_tokenizer(),
        transformer=transformer,
    )
    for module in (pipe.transformer, pipe.vae, pipe.text_encoder, pipe.text_encoder_2):
        module.eval()
    return pipe


def build_tiny_sdxl():
    """SDXL architecture (UNet, VAE, two CLIP encoders) at a few thousand parameters."""
    import torch
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=1,
        sample_size=32,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        transformer_layers_per_block=(1, 1),
        projection_class_embeddings_input_dim=80,  # 6 * 8 time ids + 32 pooled text
        cross_attention_dim=64,
        norm_num_groups=8,
    )
    pipe = StableDiffusionXLPipeline(
        vae=_vae(4),
        text_encoder=CLIPTextModel(_clip_config()),
        text_encoder_2=CLIPTextModelWithProjection(_clip_config()),
        tokenizer=clip_tokenizer(),
        tokenizer_2=clip_tokenizer(),
        unet=unet,
        scheduler=EulerDiscreteScheduler(
            beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", timestep_spacing="leading"
        ),
    )
    for module in (pipe.unet, pipe.vae, pipe.text_encoder, pipe.text_encoder_2):
        module.eval()
    return pipe
