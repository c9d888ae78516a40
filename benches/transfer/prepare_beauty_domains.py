"""Two disjoint domains cut from Amazon Beauty for the transfer protocol (issue 5, item 5).

Items are assigned to a domain by the top-level category in their Amazon category path
(`Brand | Makeup | Eyes | Mascara` → Makeup). Users are split at random (seeded) into two
disjoint halves; the source half keeps only its events on source-domain items, the target
half only its events on target-domain items, each in the original order, and users left with
fewer than 3 events are dropped (leave-one-out needs a training, a validation and a test
event). So source and target share neither users nor items, only the language of the item
text. Each domain is written in the S3-Rec layout `seer import` reads (`s3rec/Beauty.txt`
with links to the shared side files), never committed.

Usage: prepare_beauty_domains.py BEAUTY_DIR OUT_DIR SOURCE_TOPS TARGET_TOPS
e.g.   prepare_beauty_domains.py ../shared/data/amazon-beauty out/xcat \
           "Skin Care,Hair Care,Bath & Body,Fragrance" "Makeup,Tools & Accessories"
"""

import json
import os
import random
import sys

beauty, out, source_tops, target_tops = sys.argv[1:5]
source_tops = set(source_tops.split(","))
target_tops = set(target_tops.split(","))
tops = source_tops | target_tops

# Item id (as in Beauty.txt) → top-level category, from S3-Rec's item attributes (the
# category path's names, brand included).
attrs = json.load(open(os.path.join(beauty, "s3rec", "Beauty_item2attributes.json")))
names = json.load(open(os.path.join(beauty, "s3rec", "Beauty_attribute_names.json")))


def top(ids):
    for a in ids:
        if names.get(str(a)) in tops:
            return names[str(a)]
    return None


domain = {}
for item, ids in attrs.items():
    t = top(ids)
    if t in source_tops:
        domain[str(item)] = "source"
    elif t in target_tops:
        domain[str(item)] = "target"

rng = random.Random(42)
kept = {"source": [], "target": []}
for line in open(os.path.join(beauty, "s3rec", "Beauty.txt")):
    fields = line.split()
    if not fields:
        continue
    half = "source" if rng.random() < 0.5 else "target"
    items = [i for i in fields[1:] if domain.get(i) == half]
    if len(items) >= 3:
        kept[half].append(f"{fields[0]} {' '.join(items)}\n")

for half, lines in kept.items():
    d = os.path.join(out, half)
    os.makedirs(os.path.join(d, "s3rec"), exist_ok=True)
    with open(os.path.join(d, "s3rec", "Beauty.txt"), "w") as f:
        f.writelines(lines)
    for rel in ["s3rec/Beauty_item2attributes.json", "s3rec/Beauty_attribute_names.json",
                "p5-datamaps", "idgenrec"]:
        src = os.path.abspath(os.path.join(beauty, rel))
        dst = os.path.join(d, rel)
        if os.path.exists(src) and not os.path.lexists(dst):
            os.symlink(src, dst)
    n_events = sum(len(l.split()) - 1 for l in lines)
    n_items = len({i for l in lines for i in l.split()[1:]})
    print(f"{half}: {len(lines)} users, {n_items} items, {n_events} events")
