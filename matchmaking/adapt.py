"""Domain adaptation of the encoder on a platform's own texts, without labels (issue 19).

The recipe, in the spirit of the inverse cloze task and of contrastive pre-training on (title, body) pairs:
from each published listing (title, body) come up to three self-supervised pairs, each a short "query" and
the listing as its "passage":

- title -> body;
- keywords -> body with those keywords removed: a few of the body's most specific terms (tf x idf over the
  corpus) as the query, and the body where they no longer occur as the passage, so the model learns to
  bridge a vocabulary gap instead of matching words;
- one sentence -> the rest of the listing (the sentence taken out).

The encoder is trained on them with in-batch negatives (the other passages of the batch; symmetric InfoNCE as
sentence-transformers' MultipleNegativesSymmetricRankingLoss) and one hard negative per title or sentence pair
(the other listing of its kind BM25 ranks first for the pair's query: a text that shares the query's words but is
not its source), the word embeddings and the lower half of the transformer frozen (a few thousand pairs should
not move a 250k-word vocabulary, and a step through the top layers only costs half as much). The adapted model is
written beside, never over, the model it
started from: a new folder, so a new model key, and a failed run leaves nothing behind.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import random
import shutil
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence

from matchmaking.engine import Fusion
from matchmaking.model_folder import ANCHORS, MARKER, ModelNotReady, model_key_for
from matchmaking.text import is_term, keywords, split_sentences, tokenize

RECIPE = "ict-pairs-v4"  # part of every cache key: change it when the recipe changes
# MARKER ("adaptation.json") is written into the adapted folder; model_folder.fusion_overrides reads its anchors


class AdaptError(ValueError):
    """Options or texts that cannot be adapted on; the message (en / zh-CN) says what to fix."""


@dataclass(frozen=True)
class AdaptOptions:
    """How long and how hard to train. The defaults fit ~7,000 listings in well under 30 minutes on 2 cores."""

    epochs: int = 1
    batch_size: int = 32
    max_pairs: int = 4096  # pairs drawn from all kinds, at random, when there are more (128 steps of 32)
    max_seq_length: int = 128  # tokens of a passage (a listing's opening: title and first sentences)
    # e5's own temperature (0.01) and a gentler step: the cosines stay where the engine's fusion reads them, and
    # every dev set gains (scale 20 / lr 2e-5, recipe v2, spread them and lost on gap; docs/evaluation.md)
    learning_rate: float = 1e-5
    scale: float = 100.0  # the inverse temperature of the contrastive loss
    seed: int = 13
    time_budget_s: Optional[float] = None  # stop training (keeping what was learned) after this long
    device: str = "auto"  # auto: cuda when there is one, else cpu
    # gradient checkpointing: activations recomputed in the backward pass instead of kept. Measured on the dev
    # corpus (8 steps of 32, 128 tokens): peak RSS 8.2 -> 4.2 GB for 17% more time, same losses (docs/evaluation.md)
    low_memory: bool = True
    # train only the top N transformer layers (0: all): the layers below run forward only, without activations kept
    # for a backward pass, so a step costs about half as much and the same time trains on more pairs
    trained_layers: int = 6
    # per pair, one more passage as a hard negative: the listing (not the pair's own) that BM25 ranks first for the
    # pair's query, so the model learns to rank the source above listings that merely share its words
    # (recipe v4, none for keyword pairs: dev gap hybrid nDCG@10 0.5954 -> 0.6087, kw and field level;
    # docs/evaluation.md)
    hard_negatives: bool = True

    def check(self) -> None:
        """Raise AdaptError for values that cannot train."""
        bad = [(n, v) for n, v, lo in (("epochs", self.epochs, 1), ("batch_size", self.batch_size, 2),
                                       ("max_pairs", self.max_pairs, 2), ("max_seq_length", self.max_seq_length, 16))
               if not isinstance(v, int) or v < lo]
        if bad:
            name, value = bad[0]
            raise AdaptError(f"{name}={value!r} is too small or not a whole number / {name}={value!r} 过小或不是整数")
        if not (0 < self.learning_rate < 1) or not (0 < self.scale <= 1000):
            raise AdaptError("learning_rate must be in (0, 1) and scale in (0, 1000] / "
                             "learning_rate 须在 (0, 1) 内，scale 须在 (0, 1000] 内")
        if not isinstance(self.trained_layers, int) or self.trained_layers < 0:
            raise AdaptError(f"trained_layers={self.trained_layers!r}: a whole number, 0 for all layers / "
                             f"trained_layers={self.trained_layers!r} 须为整数，0 表示训练全部层")
        if self.time_budget_s is not None and self.time_budget_s <= 0:
            raise AdaptError("time_budget_s must be positive / time_budget_s 须为正数")
        if self.device not in ("auto", "cpu", "cuda"):
            raise AdaptError(f"device={self.device!r}: choose auto, cpu or cuda / device 可选 auto、cpu、cuda")


@dataclass
class AdaptResult:
    """What an adaptation produced: the new folder and how the training went."""

    folder: Path
    base: str
    base_key: str
    model_key: str
    pairs: int
    steps: int
    seconds: float
    first_loss: float
    last_loss: float
    device: str
    options: dict = field(default_factory=dict)
    fusion: dict = field(default_factory=dict)  # the engine's cosine anchors for this model (align_cosines)

    def marker(self) -> dict:
        out = asdict(self)
        out["folder"] = str(self.folder)
        out["recipe"] = RECIPE
        return out


def corpus_digest(docs: Iterable[tuple[str, str]], base_key: str, options: AdaptOptions) -> str:
    """sha256 over the texts (in order), the base model's key, the recipe and the options that change weights."""
    h = hashlib.sha256(f"{RECIPE}|{base_key}|".encode())
    opts = asdict(options)
    opts.pop("time_budget_s"), opts.pop("device"), opts.pop("low_memory")  # same weights either way
    h.update(json.dumps(opts, sort_keys=True).encode())
    for title, body in docs:
        h.update(b"\x1e" + (title or "").encode() + b"\x1f" + (body or "").encode())
    return h.hexdigest()


def _idf(bodies: Sequence[str]) -> dict[str, float]:
    df: Counter[str] = Counter()
    for body in bodies:
        df.update({t for t in tokenize(body, search_mode=False) if is_term(t)})
    n = max(len(bodies), 1)
    return {t: math.log((n + 1) / (c + 0.5)) for t, c in df.items()}


def _without(body: str, words: Sequence[str]) -> str:
    for word in sorted(words, key=len, reverse=True):
        body = body.replace(word, "")
    return body


def training_pairs(docs: Sequence[tuple[str, str]], max_pairs: int, seed: int = 13) -> list[tuple[str, str]]:
    """Self-supervised (query, passage) pairs from (title, body) texts; at most max_pairs, drawn at random."""
    return [(q, p) for q, p, _source, _kind in _sourced_pairs(docs, max_pairs, seed)]


def _sourced_pairs(docs: Sequence[tuple[str, str]], max_pairs: int, seed: int) -> list[tuple[str, str, int, str]]:
    """training_pairs with the index of the text each pair came from and its kind (title, keywords, sentence)."""
    rng = random.Random(seed)
    bodies = [body or "" for _title, body in docs]
    idf = _idf(bodies)
    pairs: list[tuple[str, str, int, str]] = []
    for n, (title, body) in enumerate(docs):
        title, body = (title or "").strip(), (body or "").strip()
        if len(body) < 20:
            continue
        if len(title) >= 4:
            pairs.append((title, body, n, "title"))
        words = [w for w in keywords(body, k=8, idf=idf) if idf.get(w, 0) > 1.0][:4]
        rest = _without(body, words)
        if len(words) >= 2 and len(rest) >= 20:
            pairs.append((" ".join(rng.sample(words, len(words))), rest, n, "keywords"))
        sentences = [s for s in split_sentences(body) if len(s) >= 12]
        if len(sentences) >= 3:
            i = rng.randrange(len(sentences))
            pairs.append((sentences[i], "。".join([title, *sentences[:i], *sentences[i + 1:]]).strip("。"), n,
                          "sentence"))
    rng.shuffle(pairs)
    return pairs[:max_pairs]


def hard_negatives(docs: Sequence[tuple[str, str]], sourced: Sequence[tuple[str, str, int, str]],
                   groups: Optional[Sequence[str]] = None) -> list[str]:
    """For each (query, passage, source, kind) the text BM25 ranks first for the query among the other texts (title
    and body, as the platform indexes a listing) of the source's group (``groups``, one per text: a demand's
    negative is another demand, never the achievement that may well answer it); "" where no such text shares a
    word with the query, and for the
    keyword pairs: their passage lost the query's words on purpose, so a negative that holds them would teach that
    sharing a company's words is evidence against a match (on dev `kw`, where the paper does hold its keywords,
    hard negatives on every pair cost 0.007 nDCG@10; docs/evaluation.md)."""
    from matchmaking.lexical import LexicalIndex

    texts = [f"{title or ''}。{body or ''}".strip("。") for title, body in docs]
    index = LexicalIndex.build(list(range(len(texts))), texts)
    out = []
    for query, _passage, source, kind in sourced:
        if kind == "keywords":
            out.append("")
            continue
        # 10 deep: copies of the source (a listing posted twice) and texts of the other group are passed over
        best = next((i for i, _score in index.search(query, k=10)
                     if texts[i] != texts[source] and (groups is None or groups[i] == groups[source])), None)
        out.append("" if best is None else texts[best])
    return out


def _device(choice: str) -> str:
    import torch

    if choice == "cuda" and not torch.cuda.is_available():
        raise AdaptError("device=cuda but no CUDA GPU is visible / 指定了 cuda，但未检测到 GPU")
    return "cuda" if choice == "auto" and torch.cuda.is_available() else ("cpu" if choice == "auto" else choice)


def adapt(base: str | os.PathLike, docs: Sequence[tuple[str, str]], out: str | os.PathLike,
          options: AdaptOptions = AdaptOptions(), progress: Optional[Callable[[int, int, float], None]] = None,
          groups: Optional[Sequence[str]] = None) -> AdaptResult:
    """Fine-tune the model folder ``base`` on pairs from ``docs`` and write it to the new folder ``out``.
    ``groups`` (one per doc, e.g. demand / achievement) keeps each hard negative within its pair's group."""
    options.check()
    base_path, dest = Path(base).expanduser().resolve(), Path(out).expanduser().resolve()
    if not (base_path / "modules.json").is_file():
        raise ModelNotReady(base_path)
    if dest.exists():
        raise AdaptError(f"{dest} already exists; adaptation never writes over a model / {dest} 已存在，不会覆盖")
    sourced = _sourced_pairs(docs, options.max_pairs, options.seed)
    pairs = [(q, p) for q, p, _source, _kind in sourced]
    if len(pairs) < options.batch_size:
        raise AdaptError(f"only {len(pairs)} training pairs from {len(docs)} texts; at least {options.batch_size} "
                         f"(one batch) are needed: publish more listings or lower batch_size / "
                         f"仅得到 {len(pairs)} 个训练样本对，至少需要 {options.batch_size} 个")
    start = time.perf_counter()
    negatives = hard_negatives(docs, sourced, groups) if options.hard_negatives else None
    model, device, steps, losses = _train(base_path, pairs, options, progress, negatives)
    fusion = align_cosines(base_path, model, pairs, options.seed)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", dir=dest.parent))
    try:
        model.save(str(tmp))
        result = AdaptResult(dest, str(base_path), model_key_for(base_path), "", len(pairs), steps,
                             round(time.perf_counter() - start, 1), losses[0], losses[-1], device,
                             asdict(options), fusion)
        result.model_key = f"{dest.name}@{model_key_for(tmp).split('@', 1)[1]}"  # the key it has once in place
        (tmp / MARKER).write_text(json.dumps(result.marker(), ensure_ascii=False, indent=2), encoding="utf-8")
        os.chmod(tmp, 0o755)
        os.replace(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return result


def _train(base: Path, pairs: list[tuple[str, str]], options: AdaptOptions,
           progress: Optional[Callable[[int, int, float], None]], negatives: Optional[list[str]] = None):
    """The training loop: symmetric in-batch InfoNCE, AdamW, linear warm-up and decay, gradient clipping. With
    ``negatives`` (one text per pair, "" for none) each query also competes against the batch's hard negatives."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    import torch.nn.functional as F
    from sentence_transformers import SentenceTransformer

    torch.manual_seed(options.seed)
    device = _device(options.device)
    model = SentenceTransformer(str(base), device=device, local_files_only=True)
    model.max_seq_length = options.max_seq_length
    prompts = model.prompts or {}
    q_prefix = prompts.get("query", "")
    p_prefix = next((prompts[n] for n in ("passage", "document", "corpus") if prompts.get(n)), "")
    transformer = getattr(model[0], "auto_model", None)
    frozen = _frozen_prefixes(transformer, options.trained_layers)
    for name, param in model.named_parameters():
        if "word_embeddings" in name or any(f".{prefix}" in f".{name}" for prefix in frozen):
            param.requires_grad_(False)
    # with the lower layers frozen their activations are not kept anyway, and recomputing the top ones would cost
    # more than it saves (a step of 32 pairs: 3.1 s frozen below 6, 6.1 s with checkpointing; docs/evaluation.md)
    checkpoint = options.low_memory and not frozen and getattr(transformer, "supports_gradient_checkpointing", False)
    if checkpoint:
        # non-reentrant: works with the frozen embeddings' inputs; the RNG state is kept, so dropout repeats
        _checkpointing(transformer, True)
    params = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(params, lr=options.learning_rate, weight_decay=0.01)
    per_epoch = len(pairs) // options.batch_size
    total = per_epoch * options.epochs
    warmup = max(1, total // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: min((s + 1) / warmup, max(0.0, (total - s) / max(1, total - warmup))))
    rng = random.Random(options.seed)
    losses: list[float] = []
    started, step = time.perf_counter(), 0
    model.train()
    for _epoch in range(options.epochs):
        order = list(range(len(pairs)))
        rng.shuffle(order)
        for b in range(per_epoch):
            chosen = order[b * options.batch_size:(b + 1) * options.batch_size]
            batch = [pairs[i] for i in chosen]
            q = F.normalize(_embed(model, [q_prefix + a for a, _ in batch], device), dim=-1)
            p = F.normalize(_embed(model, [p_prefix + c for _, c in batch], device), dim=-1)
            logits = q @ p.T * options.scale
            labels = torch.arange(len(batch), device=logits.device)
            hard = [negatives[i] for i in chosen if negatives[i]] if negatives else []
            if hard:  # the queries' side also meets the hard negatives; the passages' side stays in-batch
                n = F.normalize(_embed(model, [p_prefix + c for c in hard], device), dim=-1)
                loss = (F.cross_entropy(torch.cat([logits, q @ n.T * options.scale], dim=1), labels)
                        + F.cross_entropy(logits.T, labels)) / 2
            else:
                loss = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimiser.step()
            schedule.step()
            step += 1
            losses.append(float(loss.detach()))
            if progress:
                progress(step, total, losses[-1])
            if options.time_budget_s is not None and time.perf_counter() - started > options.time_budget_s:
                break
        else:
            continue
        break
    if checkpoint:
        _checkpointing(transformer, False)  # a training device only: not saved with the model
    model.eval()
    return model, device, step, losses or [math.nan]


def _frozen_prefixes(transformer, trained_layers: int) -> list[str]:
    """Parameter-name parts of the embeddings and of the layers below the top ``trained_layers`` (none for 0)."""
    layers = getattr(getattr(transformer, "encoder", None), "layer", None)
    if not trained_layers or layers is None or trained_layers >= len(layers):
        return []
    return ["embeddings."] + [f"encoder.layer.{i}." for i in range(len(layers) - trained_layers)]


def _checkpointing(transformer, on: bool) -> None:
    """Activation (gradient) checkpointing on or off, under the name this transformers version has."""
    kwargs = {"use_reentrant": False}
    if hasattr(transformer, "activation_checkpointing_enable"):  # transformers 5: the old names warn
        if on:
            transformer.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
        else:
            transformer.activation_checkpointing_disable()
    elif on:
        transformer.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
    else:
        transformer.gradient_checkpointing_disable()


def _embed(model, texts: list[str], device: str):
    features = (model.preprocess if hasattr(model, "preprocess") else model.tokenize)(texts)
    features = {k: v.to(device) if hasattr(v, "to") else v for k, v in features.items()}
    return model(features)["sentence_embedding"]


# the stock model's cosine anchors: the engine's defaults (matchmaking.engine.Fusion: cos_floor, cos_ceil)
STOCK_ANCHORS = {name: getattr(Fusion(), name) for name in ANCHORS}


def align_cosines(base: Path, model, pairs: list[tuple[str, str]], seed: int, sample: int = 256) -> dict:
    """The engine's cosine anchors carried over to the adapted model, without labels: training moves where
    unrelated and related texts sit (e5's cosines live in 0.75-0.95; after contrastive training they spread),
    and fixed anchors would then read most candidates as "no semantic match". On a sample of the training
    pairs, the mean cosine of mismatched pairs (query i, passage j) and of matched ones is measured under both
    models; each anchor keeps its place between the two means (an affine map)."""
    import numpy as np
    from sentence_transformers import SentenceTransformer

    rng = random.Random(seed + 1)
    chosen = rng.sample(pairs, min(sample, len(pairs)))
    stock = SentenceTransformer(str(base), device="cpu", local_files_only=True)
    stock.max_seq_length = model.max_seq_length

    def means(m) -> tuple[float, float]:
        prompts = m.prompts or {}
        q = m.encode([prompts.get("query", "") + a for a, _ in chosen], normalize_embeddings=True,
                     convert_to_numpy=True, show_progress_bar=False, batch_size=32)
        p = m.encode([prompts.get("passage", "") + b for _, b in chosen], normalize_embeddings=True,
                     convert_to_numpy=True, show_progress_bar=False, batch_size=32)
        sims = q @ p.T
        matched = float(np.mean(np.diag(sims)))
        off = ~np.eye(len(chosen), dtype=bool)
        return float(np.mean(sims[off])), matched

    (su, sm), (au, am) = means(stock), means(model)
    if not sm > su or not am > au:  # a degenerate sample: keep the stock anchors
        return dict(STOCK_ANCHORS)
    out = {name: round(au + (value - su) * (am - au) / (sm - su), 4) for name, value in STOCK_ANCHORS.items()}
    out.update(stock_means=[round(su, 4), round(sm, 4)], adapted_means=[round(au, 4), round(am, 4)])
    return out


def export_onnx(folder: str | os.PathLike) -> Optional[str]:
    """Export an adapted folder to ONNX as `make model` exports the stock one, so both run on the same backend
    where the stock one runs on ONNX Runtime. Returns why it could not (None: exported); the adapted model
    then runs on torch."""
    try:
        from matchmaking.tools.onnx_export import export

        export(folder, quiet=True)
        return None
    except Exception as exc:  # noqa: BLE001 - no onnxruntime, no room: torch serves it instead
        return str(exc)
