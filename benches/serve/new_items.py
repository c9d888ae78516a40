"""New items served at once through their text (issue 7): put 200 "new editions" of random
catalogue items into a running `seer serve --text-encoder …`, time the PUTs, then check how many
of the first 50 appear in their source item's top-10 similar items, before any retrain.

    python3 benches/serve/new_items.py http://127.0.0.1:18095 [N_ITEMS]

Needs a catalogue whose item ids are 1..N_ITEMS (Amazon Beauty from `seer import`: 12101).
Standard library only.
"""
import http.client
import json
import random
import sys
import time
from urllib.parse import urlparse

url = urlparse(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:18095")
n_items = int(sys.argv[2]) if len(sys.argv) > 2 else 12101
c = http.client.HTTPConnection(url.hostname, url.port)
random.seed(1)
srcs = random.sample(range(1, n_items + 1), 200)
lat = []
for n, src in enumerate(srcs):
    c.request("GET", f"/v1/items/{src}")
    it = json.loads(c.getresponse().read())
    fields = dict(it["fields"])
    fields["title"] = (fields.get("title") or it["title"]) + " (2027 edition)"
    body = json.dumps({"fields": fields})
    t0 = time.perf_counter()
    c.request("PUT", f"/v1/items/new-{n}", body, {"content-type": "application/json"})
    r = c.getresponse()
    r.read()
    lat.append((time.perf_counter() - t0) * 1e3)
    assert r.status == 200, r.status
lat.sort()
print(
    f"PUT item: n={len(lat)} p50 {lat[len(lat) // 2]:.1f} ms p90 {lat[int(len(lat) * 0.9)]:.1f} ms "
    f"p99 {lat[int(len(lat) * 0.99)]:.1f} ms max {lat[-1]:.1f} ms"
)
hits = 0
for n, src in enumerate(srcs[:50]):
    c.request("GET", f"/v1/items/{src}/similar?k=10")
    sim = [x["item"] for x in json.loads(c.getresponse().read())["items"]]
    hits += f"new-{n}" in sim
print(f"new edition in its source's top-10 similar items: {hits}/50")
# 1,000 users whose latest event is a new item (read as its nearest known item)
ev = [{"user": str(u), "item": f"new-{u % 200}"} for u in range(1, 1001)]
c.request("POST", "/v1/events", json.dumps({"events": ev}), {"content-type": "application/json"})
r = c.getresponse()
r.read()
assert r.status == 200, r.status
print("posted 1,000 events on new items")
