"""sentence-transformers' `encode` on the texts of a file: the reference for `seer embed`.

    python benches/minilm/st_encode.py MODEL_DIR TEXTS THREADS [REPEAT]

Prints one line like `seer embed`'s: texts, seconds of the fastest pass, sentences/s, threads,
peak memory (ru_maxrss). Settings are sentence-transformers' defaults for the model (batch 32,
length-sorted batches padded to their longest text, max_seq_length 256), L2-normalised output.
"""
import resource
import sys
import time

import torch
from sentence_transformers import SentenceTransformer

model_dir, path, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
repeat = int(sys.argv[4]) if len(sys.argv) > 4 else 1
torch.set_num_threads(threads)
texts = [line.rstrip("\n") for line in open(path, encoding="utf-8")]
model = SentenceTransformer(model_dir, device="cpu")
model.encode(texts[:256], batch_size=32)  # warm-up
best = float("inf")
for _ in range(repeat):
    t0 = time.perf_counter()
    model.encode(texts, batch_size=32, normalize_embeddings=True)
    best = min(best, time.perf_counter() - t0)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(
    f"sentence-transformers {__import__('sentence_transformers').__version__} "
    f"(torch {torch.__version__}): {len(texts)} texts in {best:.3f} s: "
    f"{len(texts) / best:.1f} sentences/s, {threads} threads, peak memory {peak:.0f} MB"
)
