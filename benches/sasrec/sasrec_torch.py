"""Minimal PyTorch SASRec, the speed reference for seer's candle implementation.

Same network, loss, batch and sequence length as `crates/seer-models/examples/sasrec_timing.rs`:
hidden 64, 2 pre-LN blocks with 1 head, GELU feed-forward of 256, dropout 0.5, item embeddings
scaled by sqrt(64) plus position embeddings counted back from the last item, causal + padding
attention mask, full-catalogue softmax cross-entropy with tied item embeddings, AdamW
(lr 1e-3, betas 0.9/0.98) with gradient clipping at 5.

    python3 benches/sasrec/sasrec_torch.py step  ../shared/data/amazon-beauty/s3rec/Beauty.txt
    python3 benches/sasrec/sasrec_torch.py infer ../shared/data/amazon-beauty/s3rec/Beauty.txt --threads 1
    python3 benches/sasrec/sasrec_torch.py train ../shared/data/amazon-beauty/s3rec/Beauty.txt

`step`: mean of 20 training steps (after 3 warm-up steps) on the 128 users with the longest
training sequences, cropped to their last 51 items. `infer`: mean time to score the whole
catalogue for one user from a 50-item sequence (200 calls after 10 warm-up). `train`: a full
training run with the same leave-one-out split as seer (last item test, second to last
validation), validation NDCG@10 every 2 epochs, patience 10, test NDCG@10/HR@10 of the best
epoch — the quality reference.
"""
import argparse
import math
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def load(path):
    seqs = []
    items = {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) < 2:
                continue
            seq = []
            for tok in parts[1:]:
                if tok not in items:
                    items[tok] = len(items)
                seq.append(items[tok])
            seqs.append(seq)
    return seqs, len(items)


class Block(nn.Module):
    def __init__(self, h, inner, p):
        super().__init__()
        self.norm1 = nn.LayerNorm(h, eps=1e-8)
        self.attn = nn.MultiheadAttention(h, 1, dropout=p, batch_first=True)
        self.norm2 = nn.LayerNorm(h, eps=1e-8)
        self.ff1 = nn.Linear(h, inner)
        self.ff2 = nn.Linear(inner, h)
        self.drop = nn.Dropout(p)

    def forward(self, x, mask, keep):
        y = self.norm1(x)
        a, _ = self.attn(y, y, y, attn_mask=mask, need_weights=False)
        x = x + self.drop(a)
        x = x + self.drop(self.ff2(F.gelu(self.ff1(self.norm2(x)))))
        return x * keep


class SASRec(nn.Module):
    def __init__(self, n_items, h=64, layers=2, inner=256, p=0.5, max_len=50):
        super().__init__()
        self.n_items, self.h, self.max_len = n_items, h, max_len
        self.item = nn.Embedding(n_items + 1, h)  # row n_items = padding
        self.pos = nn.Embedding(max_len, h)
        self.blocks = nn.ModuleList([Block(h, inner, p) for _ in range(layers)])
        self.norm = nn.LayerNorm(h, eps=1e-8)
        self.drop = nn.Dropout(p)
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.trunc_normal_(m.weight, std=0.02, a=-0.04, b=0.04)

    def encode(self, ids, lens):
        b, l = ids.shape
        x = self.item(ids) * math.sqrt(self.h)
        pos = torch.arange(l - 1, -1, -1).clamp(max=self.max_len - 1)
        x = self.drop(x + self.pos(pos))
        keep = (torch.arange(l)[None, :] >= (l - lens)[:, None]).float()
        x = x * keep[..., None]
        causal = torch.triu(torch.ones(l, l, dtype=torch.bool), 1)
        key_pad = keep[:, None, :] == 0  # [b, 1, l]
        masked = causal[None] | key_pad
        # Padded query rows look at everything (their output is discarded), as in seer.
        masked = masked & (keep[:, :, None] > 0)
        mask = torch.zeros(b, l, l).masked_fill(masked, -1e9)
        for blk in self.blocks:
            x = blk(x, mask, keep[..., None])
        return self.norm(x)

    def scores(self, hidden):
        return hidden @ self.item.weight[: self.n_items].T


def pad(seqs, n_items, max_len):
    seqs = [s[-max_len:] for s in seqs]
    l = max(1, max(len(s) for s in seqs))
    ids = torch.full((len(seqs), l), n_items, dtype=torch.long)
    for i, s in enumerate(seqs):
        if s:
            ids[i, l - len(s):] = torch.tensor(s)
    return ids, torch.tensor([len(s) for s in seqs])


def train_step(model, opt, batch, n_items):
    inputs = [w[:-1] for w in batch]
    targets = torch.tensor([t for w in batch for t in w[1:]])
    ids, lens = pad(inputs, n_items, model.max_len)
    hid = model.encode(ids, lens)
    l = ids.shape[1]
    keep = (torch.arange(l)[None, :] >= (l - lens)[:, None]).reshape(-1)
    h = hid.reshape(-1, model.h)[keep]
    loss = F.cross_entropy(model.scores(h), targets)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
    opt.step()
    return loss.item()


def evaluate(model, histories, targets, n_items, masks):
    model.eval()
    ndcg = hr = 0.0
    with torch.no_grad():
        for s in range(0, len(histories), 256):
            hs = histories[s:s + 256]
            ids, lens = pad(hs, n_items, model.max_len)
            sc = model.scores(model.encode(ids, lens)[:, -1])
            for i, h in enumerate(hs):
                sc[i, list(set(masks[s + i]))] = -float("inf")
            t = torch.tensor(targets[s:s + 256])
            tgt = sc.gather(1, t[:, None])
            rank = (sc > tgt).sum(1)
            hit = rank < 10
            hr += hit.sum().item()
            ndcg += (hit.float() / torch.log2(rank.float() + 2)).sum().item()
    model.train()
    return ndcg / len(histories), hr / len(histories)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["step", "infer", "train"])
    ap.add_argument("path")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=200)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    seqs, n = load(args.path)
    train = [s[:-2] for s in seqs]
    model = SASRec(n)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.98), eps=1e-9, weight_decay=0.0)
    if args.mode == "step":
        order = sorted(range(len(train)), key=lambda u: -len(train[u]))[:128]
        batch = [train[u][-51:] for u in order]
        times = []
        for i in range(23):
            t = time.perf_counter()
            train_step(model, opt, batch, n)
            if i >= 3:
                times.append(time.perf_counter() - t)
        pos = sum(len(w) - 1 for w in batch)
        print(f"torch sasrec train step: {1e3 * np.mean(times):.1f} ms (batch 128, {pos} positions, "
              f"{n} items, {torch.get_num_threads()} threads, torch {torch.__version__})")
    elif args.mode == "infer":
        model.eval()
        hist = [(i * 37) % n for i in range(50)]
        times = []
        with torch.no_grad():
            for i in range(210):
                t = time.perf_counter()
                ids, lens = pad([hist], n, 50)
                model.scores(model.encode(ids, lens)[:, -1]).numpy()
                if i >= 10:
                    times.append(time.perf_counter() - t)
        print(f"torch sasrec inference: {1e3 * np.mean(times):.3f} ms per user (length 50, {n} items, "
              f"{torch.get_num_threads()} threads)")
    else:
        users = [u for u in range(len(train)) if len(train[u]) >= 2]
        rng = np.random.default_rng(0)
        valid_h = [s[:-2] for s in seqs]
        valid_t = [s[-2] for s in seqs]
        test_h = [s[:-1] for s in seqs]
        test_t = [s[-1] for s in seqs]
        best, best_state, bad = -1.0, None, 0
        for epoch in range(1, args.epochs + 1):
            t = time.perf_counter()
            rng.shuffle(users)
            # Length-bucketed batches as seer: pools of 32 batches sorted by length.
            batches = []
            for p in range(0, len(users), 128 * 32):
                pool = sorted(users[p:p + 128 * 32], key=lambda u: len(train[u]))
                batches += [pool[i:i + 128] for i in range(0, len(pool), 128)]
            rng.shuffle(batches)
            total = 0.0
            for b in batches:
                total += train_step(model, opt, [train[u][-51:] for u in b], n) * len(b)
            secs = time.perf_counter() - t
            line = f"epoch {epoch}: loss {total / len(users):.4f}, {secs:.1f} s"
            if epoch % 2 == 0:
                nd, _ = evaluate(model, valid_h, valid_t, n, valid_h)
                line += f", valid ndcg@10 {nd:.4f}"
                if nd > best:
                    best, bad = nd, 0
                    best_state = {k: v.clone() for k, v in model.state_dict().items()}
                else:
                    bad += 1
            print(line, flush=True)
            if bad >= 10:
                break
        model.load_state_dict(best_state)
        nd, hr = evaluate(model, test_h, test_t, n, test_h)
        print(f"torch sasrec test: ndcg@10 {nd:.4f}, hr@10 {hr:.4f} (best valid {best:.4f})")


if __name__ == "__main__":
    main()
