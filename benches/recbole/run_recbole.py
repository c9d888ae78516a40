#!/usr/bin/env python3
"""Run RecBole 1.2.1 on a dataset + split exported by `seer export --format recbole`.

Reference runner for issue 9 (a RecBole side-by-side). It is never a CI dependency: set it up
with `bash benches/recbole/setup.sh` and run it with `benches/recbole/.venv/bin/python`.

Input
-----
`--data DIR/NAME` is the folder `seer export --format recbole` wrote. It must hold
`NAME.train.inter`, `NAME.valid.inter` and `NAME.test.inter` (exactly the events of each part of
seer's split, header `user_id:token  item_id:token  rating:float  timestamp:float`). RecBole reads
them through its `benchmark_filename: [train, valid, test]` option, which (see
`recbole/data/dataset/dataset.py` in 1.2.1) loads `NAME.<part>.inter` in that order, **skips all of
RecBole's data filtering** (`_data_filtering` is not called when `benchmark_filename` is set), and in
`Dataset.build()` returns the three files as the train/valid/test sets without looking at
`eval_args.split` or `eval_args.order`. IDs are remapped over the union of the three files, so the
candidate items are every item that has at least one event anywhere in the dataset. `NAME.item` /
`NAME.user` are not loaded (`load_col` names only the `inter` file): Pop, ItemKNN and EASE do not use
side features, and loading `NAME.item` would add items without any event to the candidates.

The files are staged (symlinked, or rewritten for `--protocol seer`) into a temporary folder under
the dataset name `seer_NAME`, because RecBole special-cases the dataset name `ml-100k`: for that name
`Config` ignores `data_path` and reads the copy bundled inside the wheel.

Evaluation
----------
Full ranking over all items (`eval_args.mode: full`, `group_by: user`), metrics Hit, NDCG, MRR,
Recall, Precision at 5/10/20, every test user evaluated. RecBole's full-sort evaluation masks, for
each user, every item the user has in the train, valid **and** test files, except the user's test
positives (`FullSortEvalDataLoader`: history = used ids of the test phase minus test positives). No
negative sampling for training (`train_neg_sample_args: None`); the models are RecBole's
"traditional" ones, fitted in one pass. Hyper-parameters are RecBole's defaults
(`recbole/properties/model/*.yaml`): Pop has none; ItemKNN `k=100, shrink=0.0`; EASE
`reg_weight=250.0`.

RecBole 1.2.1's Pop undercounts: an item occurring several times in one training batch is counted
once per batch (RUCAIBox/RecBole issues #2198, #1844), so its ranking depends on
`train_batch_size` (default 2048). The runner reports stock RecBole; `--fix-pop` patches the counting
(as upstream PR #2199 proposes) and marks the model `"patched": "pop-count-fix"` in the JSON.

Protocols (`--protocol`)
------------------------
- `recbole` (default): RecBole's own protocol on seer's split. Models are fitted on the train file
  only; the test ranking masks train + valid items. Validation metrics (same fitted model, valid
  file as targets, train items masked) are reported too, as `valid_metrics`.
- `seer`: seer's protocol. seer refits non-sequential models on train + valid before scoring the
  test part. Here the staged train file is `NAME.train.inter` followed by the rows of
  `NAME.valid.inter` (a temporary copy), so RecBole fits on both; the valid file stays as it is
  (RecBole needs three files) but it is not evaluated, and the test masking is unchanged (train +
  valid items). `valid_metrics` is null for this protocol.

Learned models
--------------
BPR, SASRec and BERT4Rec (RecBole's default hyper-parameters) train for up to `--epochs` epochs
(default RecBole's 300), validated every epoch on the valid file and early-stopped after 10
epochs without a better NDCG@10; the best checkpoint is restored for the test. BPR under
`--protocol seer` (its training file holds the valid events) trains a fixed `--epochs`. SASRec and
BERT4Rec read pre-augmented files written by `stage_sequential` (RecBole does not augment
benchmark files itself): train prefixes, the valid event after the training events, the test
event after training + valid events.

Output
------
One JSON object, printed and (with `--out`) written to a file:
`{"dataset", "protocol", "recbole_version", "torch_version", "n_users", "n_items",
  "n_interactions": {"train", "valid", "test"}, "models": [{"name": "pop"|"itemknn"|"ease",
  "recbole_model", "patched", "config", "metrics": {"hr@10", "ndcg@10", "mrr@10", "recall@10",
  "precision@10", ...}, "valid_metrics", "users_evaluated", "load_seconds", "fit_seconds",
  "eval_seconds"}]}`.
Metric names follow seer's bench.json: lower case, RecBole's `hit@k` written as `hr@k`.
`fit_seconds` covers building the model (ItemKNN and EASE do all their work in the constructor)
and `Trainer.fit` (Pop counts items there); `eval_seconds` covers `Trainer.evaluate` on the test
file; `load_seconds` is RecBole's dataset loading + dataloader building.

Known differences from seer are listed in benches/recbole/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

# PyTorch >= 2.6 loads checkpoints with weights_only=True, which RecBole 1.2.1 predates. The
# runner never loads a checkpoint (load_best_model=False), but keep RecBole usable either way.
os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")

PARTS = ("train", "valid", "test")

# seer name -> RecBole model class name.
KNOWN_MODELS = {
    "pop": "Pop",
    "itemknn": "ItemKNN",
    "ease": "EASE",
    "bpr": "BPR",
    "sasrec": "SASRec",
    "bert4rec": "BERT4Rec",
}

# Models trained by gradient descent for many epochs (early-stopped on the valid file under the
# recbole protocol), and among them the sequential ones, which read pre-augmented files.
LEARNED = {"BPR", "SASRec", "BERT4Rec"}
SEQUENTIAL = {"SASRec", "BERT4Rec"}

# RecBole 1.2.1's defaults (recbole/properties/model/<Model>.yaml), written out so the JSON records
# exactly what ran.
DEFAULT_PARAMS = {
    "Pop": {},
    "ItemKNN": {"k": 100, "shrink": 0.0},
    "EASE": {"reg_weight": 250.0},
    # embedding_size 64, learning_rate 0.001, train_batch_size 2048, one uniform negative.
    "BPR": {},
    # 2 layers, 2 heads, hidden 64, inner 256, dropout 0.5, loss CE over the catalogue,
    # MAX_ITEM_LIST_LENGTH 50.
    "SASRec": {},
    "BERT4Rec": {},
}

METRICS = ["Hit", "NDCG", "MRR", "Recall", "Precision"]
TOPK = [5, 10, 20]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Run RecBole 1.2.1 on a `seer export --format recbole` folder (pre-split).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="See the module docstring and benches/recbole/README.md for the protocols.",
    )
    p.add_argument("--data", required=True, type=Path, help="the exported folder DIR/NAME")
    p.add_argument(
        "--models",
        default="Pop,ItemKNN,EASE",
        help="comma-separated RecBole model names (default: Pop,ItemKNN,EASE)",
    )
    p.add_argument("--out", type=Path, help="write the JSON here as well as to stdout")
    p.add_argument(
        "--protocol",
        choices=["recbole", "seer"],
        default="recbole",
        help="recbole: fit on train; seer: fit on train+valid (default: recbole)",
    )
    p.add_argument("--seed", type=int, default=2020, help="RecBole seed (default: 2020)")
    p.add_argument(
        "--keep-workdir",
        action="store_true",
        help="keep the staging folder (RecBole's log/ and saved/ land there) and print its path",
    )
    p.add_argument(
        "--fix-pop",
        action="store_true",
        help="patch RecBole's Pop to count every training event (RecBole issue #2198); "
        "the JSON marks the model as patched",
    )
    p.add_argument("--quiet", action="store_true", help="RecBole logging at WARNING only")
    p.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="epoch cap for BPR/SASRec/BERT4Rec (default: RecBole's 300, early stopping after "
        "10 epochs without a better valid NDCG@10); the JSON records the epochs run",
    )
    return p.parse_args(argv)


def read_header(path: Path) -> str:
    with path.open("r", encoding="utf-8") as f:
        return f.readline().rstrip("\n")


def count_rows(path: Path) -> int:
    with path.open("rb") as f:
        return max(sum(1 for _ in f) - 1, 0)


def stage(data: Path, protocol: str, work: Path) -> tuple[str, dict[str, int]]:
    """Lays the three part files out under work/<token>/ and returns (token, rows per part)."""
    name = data.resolve().name
    src = {part: data / f"{name}.{part}.inter" for part in PARTS}
    missing = [str(p) for p in src.values() if not p.is_file()]
    if missing:
        sys.exit(
            "missing pre-split files (run `seer export --format recbole` with a split): "
            + ", ".join(missing)
        )
    headers = {part: read_header(path) for part, path in src.items()}
    if len(set(headers.values())) != 1:
        sys.exit(f"the part files disagree on their header: {headers}")
    for col in ("user_id:token", "item_id:token", "timestamp:float"):
        if col not in headers["train"].split("\t"):
            sys.exit(f"{src['train']}: header lacks {col!r}: {headers['train']!r}")

    # Not `name`: RecBole's Config replaces data_path for a dataset called "ml-100k".
    token = f"seer_{name}"
    dst = work / token
    dst.mkdir(parents=True)
    rows = {part: count_rows(path) for part, path in src.items()}
    for part in PARTS:
        target = dst / f"{token}.{part}.inter"
        if part == "train" and protocol == "seer":
            # seer refits on train + valid: the training file holds both parts.
            with target.open("wb") as out:
                with src["train"].open("rb") as f:
                    shutil.copyfileobj(f, out)
                with src["valid"].open("rb") as f:
                    f.readline()  # header
                    body = f.read()
                if body:
                    out.seek(0, os.SEEK_END)
                    if out.tell() > 0:
                        # make sure the train body ends with a newline before appending
                        with target.open("rb") as check:
                            check.seek(-1, os.SEEK_END)
                            last = check.read(1)
                        if last != b"\n":
                            out.write(b"\n")
                    out.write(body)
        else:
            target.symlink_to(src[part].resolve())
    return token, rows


def read_part(path: Path) -> list[tuple[str, str, float]]:
    """(user, item, timestamp) rows of one part file, in file order."""
    rows = []
    with path.open(encoding="utf-8") as f:
        cols = f.readline().rstrip("\n").split("\t")
        iu, ii, it = (
            cols.index("user_id:token"),
            cols.index("item_id:token"),
            cols.index("timestamp:float"),
        )
        for line in f:
            v = line.rstrip("\n").split("\t")
            rows.append((v[iu], v[ii], float(v[it])))
    return rows


def stage_sequential(data: Path, work: Path, max_len: int = 50) -> tuple[str, dict[str, int]]:
    """Writes RecBole's pre-augmented sequential files for seer's split.

    With `benchmark_filename`, RecBole's `SequentialDataset` does **not** augment the data
    itself (`_change_feat_format` returns early): every row must already carry its input
    sequence as `item_id_list:token_seq`. This builds the rows RecBole's own
    `data_augmentation` would: per user, events in time order (ties in file order: the part
    files list each user's events in seer's order); each training event after the user's first
    becomes (previous <= 50 training events -> event); the valid event gets the user's training
    events as input; the test event gets training + valid events. So the model trains on train
    prefixes, early-stops on valid, and sees the valid event as input at test time - seer's
    protocol for sequence models (seer also refits on train + valid for the best epoch count;
    RecBole does not).
    """
    name = data.resolve().name
    parts = {part: read_part(data / f"{name}.{part}.inter") for part in PARTS}
    token = f"seer_{name}_seq"
    dst = work / token
    dst.mkdir(parents=True)
    history: dict[str, list[tuple[float, int, str]]] = {}
    order = 0
    rows = {}
    for part in PARTS:
        out_rows = []
        # within a part, each user's events in time order, ties in file order
        by_user: dict[str, list[tuple[float, int, str]]] = {}
        for u, i, t in parts[part]:
            by_user.setdefault(u, []).append((t, order, i))
            order += 1
        for u in by_user:
            by_user[u].sort()
        for u, events in by_user.items():
            h = history.setdefault(u, [])
            for t, o, i in events:
                if h:
                    seq = " ".join(x[2] for x in h[-max_len:])
                    out_rows.append(f"{u}\t{seq}\t{i}\t{t}\n")
                h.append((t, o, i))
        header = "user_id:token\titem_id_list:token_seq\titem_id:token\ttimestamp:float\n"
        (dst / f"{token}.{part}.inter").write_text(header + "".join(out_rows), encoding="utf-8")
        rows[part] = len(out_rows)
    return token, rows


def metric_key(key: str) -> str:
    """RecBole's `hit@10` -> seer's `hr@10`; the others are already seer's names."""
    name, _, k = key.partition("@")
    name = {"hit": "hr"}.get(name.lower(), name.lower())
    return f"{name}@{k}" if k else name


def to_float_dict(result) -> dict[str, float]:
    return {metric_key(k): float(v) for k, v in result.items()}


def patch_pop_counting() -> None:
    """Makes RecBole 1.2.1's Pop count every training event.

    Stock `Pop.calculate_loss` does `item_cnt[item] = item_cnt[item] + 1` per training batch;
    with fancy indexing an item that occurs several times in one batch is counted once, so the
    counts are "number of batches the item occurs in" (capped near n_events / train_batch_size)
    and the ranking depends on the batch size (RUCAIBox/RecBole issues #2198 and #1844; the fix
    proposed upstream, PR #2199, accumulates with scatter_add). This does the same with
    index_add_.
    """
    import torch
    from recbole.model.general_recommender.pop import Pop

    def calculate_loss(self, interaction):
        item = interaction[self.ITEM_ID]
        ones = torch.ones(item.shape[0], 1, dtype=self.item_cnt.dtype, device=self.item_cnt.device)
        self.item_cnt.index_add_(0, item, ones)
        self.max_cnt = torch.max(self.item_cnt, dim=0)[0]
        return torch.nn.Parameter(torch.zeros(1)).to(self.device)

    Pop.calculate_loss = calculate_loss


def run_model(
    model: str,
    token: str,
    work: Path,
    protocol: str,
    seed: int,
    quiet: bool,
    fix_pop: bool,
    epochs: int | None = None,
) -> dict:
    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.utils import get_model, get_trainer, init_logger, init_seed

    params = dict(DEFAULT_PARAMS.get(model, {}))
    learned, sequential = model in LEARNED, model in SEQUENTIAL
    extra: dict = {}
    if learned:
        extra["saved"] = True  # checkpoint the best epoch so the test uses it
        if epochs is not None:
            extra["epochs"] = epochs
    if sequential:
        extra["load_col"] = {"inter": ["user_id", "item_id_list", "item_id", "timestamp"]}
        extra["MAX_ITEM_LIST_LENGTH"] = 50
    if model == "BPR":
        extra["train_neg_sample_args"] = {
            "distribution": "uniform",
            "sample_num": 1,
            "alpha": 1.0,
            "dynamic": False,
            "candidate_num": 0,
        }
    config_dict = {
        # data
        "data_path": str(work),
        "benchmark_filename": list(PARTS),
        "USER_ID_FIELD": "user_id",
        "ITEM_ID_FIELD": "item_id",
        "RATING_FIELD": "rating",
        "TIME_FIELD": "timestamp",
        "load_col": {"inter": ["user_id", "item_id", "rating", "timestamp"]},
        # `split` is ignored when benchmark_filename is set (Dataset.build returns the files).
        "eval_args": {"order": "TO", "group_by": "user", "mode": "full"},
        # training: traditional models, no negative sampling
        "train_neg_sample_args": None,
        # evaluation
        "metrics": METRICS,
        "topk": TOPK,
        "valid_metric": "NDCG@10",
        "metric_decimal_place": 8,
        # environment
        "use_gpu": False,
        "seed": seed,
        "reproducibility": True,
        "show_progress": False,
        "save_dataset": False,
        "save_dataloaders": False,
        "checkpoint_dir": str(work / "saved"),
        "state": "WARNING" if quiet else "INFO",
        **params,
    }
    config_dict.update({k: v for k, v in extra.items() if k != "saved"})

    # RecBole's Config also reads `--key=value` from sys.argv; keep this script's own options
    # (e.g. `--seed=1`, `--protocol=seer`) out of RecBole's configuration.
    argv, sys.argv = sys.argv, sys.argv[:1]
    try:
        config = Config(model=model, dataset=token, config_dict=config_dict)
    finally:
        sys.argv = argv
    init_seed(config["seed"], config["reproducibility"])
    init_logger(config)

    t0 = time.perf_counter()
    dataset = create_dataset(config)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    t1 = time.perf_counter()

    init_seed(config["seed"] + config["local_rank"], config["reproducibility"])
    net = get_model(config["model"])(config, train_data._dataset).to(config["device"])
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, net)
    epoch_seconds: list[float] = []
    inner = trainer._train_epoch

    def timed_epoch(*a, **kw):
        t = time.perf_counter()
        out = inner(*a, **kw)
        epoch_seconds.append(time.perf_counter() - t)
        return out

    trainer._train_epoch = timed_epoch
    # Learned models early-stop on the valid file (RecBole's default, evaluated every epoch)
    # and keep their best checkpoint - except BPR under the seer protocol, whose training file
    # already holds the valid events: it runs a fixed number of epochs (`--epochs`). The
    # traditional models get no valid_data: no validation pass inside the timed fit.
    early_stop = learned and (sequential or protocol == "recbole")
    trainer.fit(
        train_data,
        valid_data=valid_data if early_stop else None,
        saved=early_stop,
        show_progress=False,
    )
    t2 = time.perf_counter()

    test_result = trainer.evaluate(test_data, load_best_model=early_stop, show_progress=False)
    t3 = time.perf_counter()

    valid_metrics = None
    if protocol == "recbole" or sequential:
        valid_metrics = to_float_dict(
            trainer.evaluate(valid_data, load_best_model=False, show_progress=False)
        )

    return {
        "name": model.lower(),
        "recbole_model": model,
        "patched": "pop-count-fix" if (fix_pop and model == "Pop") else None,
        "config": {k: config[k] for k in params} or None,
        "metrics": to_float_dict(test_result),
        "valid_metrics": valid_metrics,
        # general models' full-sort loader lists its users; the sequential one has a row each
        "users_evaluated": int(
            len(test_data.uid_list) if hasattr(test_data, "uid_list") else len(test_data._dataset)
        ),
        "load_seconds": round(t1 - t0, 4),
        "fit_seconds": round(t2 - t1, 4),
        "eval_seconds": round(t3 - t2, 4),
        "epochs_run": len(epoch_seconds) if learned else None,
        # RecBole's trainer counts the epochs since the best one in `cur_step`.
        "best_epoch": len(epoch_seconds) - int(trainer.cur_step) if early_stop else None,
        "seconds_per_epoch": (
            round(sum(epoch_seconds) / len(epoch_seconds), 3) if learned and epoch_seconds else None
        ),
        "_n_users": int(dataset.user_num - 1),  # minus RecBole's [PAD]
        "_n_items": int(dataset.item_num - 1),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.data = args.data.resolve()  # the runner changes directory before staging
    models = []
    for raw in args.models.split(","):
        raw = raw.strip()
        if raw:
            models.append(KNOWN_MODELS.get(raw.lower(), raw))
    if not models:
        sys.exit("--models names no model")

    import recbole
    import torch

    work = Path(tempfile.mkdtemp(prefix="seer-recbole-"))
    cwd = os.getcwd()
    try:
        token, rows = stage(args.data, args.protocol, work)
        # RecBole writes log/ and log_tensorboard/ under the working directory.
        os.chdir(work)
        if args.fix_pop:
            patch_pop_counting()
        seq_token = None
        if any(m in SEQUENTIAL for m in models):
            seq_token, _ = stage_sequential(args.data, work)
        if args.protocol == "seer" and "BPR" in models and args.epochs is None:
            sys.exit("BPR under --protocol seer trains on train + valid: give --epochs")
        results = [
            run_model(
                m,
                seq_token if m in SEQUENTIAL else token,
                work,
                args.protocol,
                args.seed,
                args.quiet,
                args.fix_pop,
                args.epochs,
            )
            for m in models
        ]
    finally:
        os.chdir(cwd)
        if args.keep_workdir:
            print(f"workdir kept: {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)

    report = {
        "dataset": args.data.resolve().name,
        "protocol": args.protocol,
        "recbole_version": recbole.__version__,
        "torch_version": torch.__version__,
        "n_users": results[0]["_n_users"],
        "n_items": results[0]["_n_items"],
        "n_interactions": rows,
        "fit_on": ["train", "valid"] if args.protocol == "seer" else ["train"],
        "masked_at_test": ["train", "valid"],
        "models": [{k: v for k, v in r.items() if not k.startswith("_")} for r in results],
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
