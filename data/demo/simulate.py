#!/usr/bin/env python3
"""Builds seer's bundled demo dataset: REAL book metadata, SYNTHETIC interactions.

Items are the 1,000 most-rated books of goodbooks-10k (`books.csv`, CC BY-SA 4.0, by Zygmunt
Zajac): real titles, authors, publication years and Goodreads rating counts. The goodbooks
ratings themselves are not redistributable in this form (and not staged here), so the users and
their events are made up by the seeded simulator below. Nothing computed on this data is a
quality figure for seer: it exists so the quickstart and the tests run anywhere.

The simulator (all randomness from one seeded `random.Random`):

* Popularity: each book's prior is ratings_count ** 0.5 (real counts, flattened).
* Users have latent tastes: 3 favourite authors (drawn by author popularity), a preferred era
  (a publication year, +-15 years) and 3 favourite title words.
* Each user reads a sequence of 6..120 books (geometric length, mean ~26). Step t picks, among
  unread candidates, the book maximising
      0.7*log(prior) + 2.5*[favourite author] + 1.8*[same author as the previous book]
      - 0.5*((year - era)/15)^2 + 0.8*[shares a favourite title word] + Gumbel noise,
  so there is long-term taste (authors, era, words) and short-term intent (series binges).
* Time: a user starts between 2017-01-01 and 2019-06-30; 60% of gaps are within a session
  (exponential, mean 20 min), the rest between sessions (exponential, mean 3 days). Each
  session has a device (mobile / desktop / tablet, per-user preference), and mobile sessions
  lean to evenings.
* Rating 1-5 from how well the book matches the user's long-term taste, plus noise.
* Cleaning showcase: 6 malformed rows (missing field, bad number, out-of-range rating, unknown
  book) and 12 exact duplicate rows are appended at documented places, so `seer import`
  has something to report. They are listed in README.md.

Usage: python3 simulate.py /path/to/goodbooks-10k/books.csv   (writes next to this script)
"""
import csv
import math
import os
import random
import re
import sys

SEED = 20241128
N_ITEMS = 1000
N_USERS = 1500
STOP = set("the a an of and in to for on with at by from my your his her its is are be or i you "
           "vol volume book books series edition novel part de la le".split())


def words(title):
    t = re.sub(r"\(.*?\)", " ", title.lower())
    return {w for w in re.findall(r"[a-z']+", t) if len(w) > 2 and w not in STOP}


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else "../../../shared/data/goodbooks-10k/books.csv"
    out = os.path.dirname(os.path.abspath(__file__))
    rng = random.Random(SEED)
    with open(src, newline="", encoding="utf-8") as f:
        books = list(csv.DictReader(f))
    books.sort(key=lambda b: -int(b["ratings_count"]))
    books = books[:N_ITEMS]
    items = []
    for b in books:
        year = b["original_publication_year"]
        items.append({
            "id": b["book_id"],
            "title": b["title"],
            "authors": b["authors"],
            "author": b["authors"].split(",")[0].strip(),
            "year": int(float(year)) if year else 1990,
            "year_raw": str(int(float(year))) if year else "",
            "language": b["language_code"],
            "ratings_count": int(b["ratings_count"]),
            "prior": int(b["ratings_count"]) ** 0.5,
            "words": words(b["title"]),
        })
    by_author = {}
    for i, it in enumerate(items):
        by_author.setdefault(it["author"], []).append(i)
    authors = sorted(by_author)
    author_w = [sum(items[i]["prior"] for i in by_author[a]) for a in authors]
    word_w = {}
    for it in items:
        for w in it["words"]:
            word_w[w] = word_w.get(w, 0.0) + it["prior"]
    vocab = sorted(word_w)
    vocab_w = [word_w[w] for w in vocab]
    logp = [math.log(it["prior"]) for it in items]
    years = [it["year"] for it in items]

    def gumbel():
        return -math.log(-math.log(rng.random() + 1e-12) + 1e-12)

    rows = []
    users = []
    t0, t1 = 1483228800, 1561852800  # 2017-01-01 .. 2019-06-30
    devices = ["mobile", "desktop", "tablet"]
    for u in range(1, N_USERS + 1):
        favs = set(rng.choices(authors, weights=author_w, k=3))
        era = rng.choice(years) + rng.gauss(0, 10)
        fav_words = set(rng.choices(vocab, weights=vocab_w, k=3))
        dev_w = [rng.random() * 3 + 1, rng.random() * 2 + 0.5, rng.random() * 0.7]
        static = []
        for i, it in enumerate(items):
            s = 0.7 * logp[i] + 2.5 * (it["author"] in favs)
            s -= 0.5 * ((it["year"] - era) / 15.0) ** 2
            s += 0.8 * bool(it["words"] & fav_words)
            static.append(s)
        order = sorted(range(N_ITEMS), key=lambda i: -static[i])
        cand_base = order[:150]
        n = min(120, 6 + int(rng.expovariate(1 / 20.0)))
        mean_s = sum(static) / N_ITEMS
        sd_s = (sum((s - mean_s) ** 2 for s in static) / N_ITEMS) ** 0.5
        ts = rng.randint(t0, t1)
        device = rng.choices(devices, weights=dev_w)[0]
        seen = set()
        prev_author = None
        for step in range(n):
            cands = set(cand_base)
            if prev_author is not None:
                cands.update(by_author[prev_author])
            cands.update(rng.randrange(N_ITEMS) for _ in range(30))
            best, best_s = None, -1e18
            for i in cands:
                if i in seen:
                    continue
                s = static[i] + 1.8 * (items[i]["author"] == prev_author) + gumbel()
                if s > best_s:
                    best, best_s = i, s
            seen.add(best)
            prev_author = items[best]["author"]
            z = (static[best] - mean_s) / (sd_s + 1e-9)
            rating = max(1, min(5, round(3.2 + 0.6 * z + rng.gauss(0, 0.8))))
            rows.append([f"u{u}", items[best]["id"], str(rating), str(ts), device])
            if rng.random() < 0.6:
                ts += int(rng.expovariate(1 / 1200.0)) + 30
            else:
                ts += int(rng.expovariate(1 / 259200.0)) + 3600
                device = rng.choices(devices, weights=dev_w)[0]
                # mobile sessions lean to evenings: move the session start into 18h-23h
                if device == "mobile" and rng.random() < 0.5:
                    day = ts - ts % 86400
                    ts = day + 18 * 3600 + rng.randrange(5 * 3600)
        interests = sorted(favs)[0] if rng.random() < 0.5 else ""
        users.append([f"u{u}", interests])

    # Cleaning showcase (documented in README.md): malformed rows and exact duplicates.
    bad = [
        ["u1", "2", "5", "", "mobile"],             # missing timestamp
        ["u2", "3", "five", "1500000000", "desktop"],  # rating is not a number
        ["u3", "4", "9", "1500000000", "mobile"],   # rating out of range 1-5
        ["u4", "999999", "4", "1500000000", "tablet"],  # book id not in books.csv
        ["u5", "5", "3", "not-a-time", "mobile"],   # bad timestamp
        ["u6", "6", "3", "1500000000"],             # missing column
    ]
    dups = [list(rows[k]) for k in range(0, 12 * 997, 997)]
    for k, row in enumerate(bad):
        rows.insert(1000 * (k + 1), row)
    for k, row in enumerate(dups):
        rows.insert(500 + 1500 * k, row)

    with open(os.path.join(out, "interactions.csv"), "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["user_id", "book_id", "rating", "timestamp", "device"])
        w.writerows(rows)
    with open(os.path.join(out, "books.csv"), "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["book_id", "title", "authors", "year", "language", "ratings_count"])
        for it in items:
            w.writerow([it["id"], it["title"], it["authors"], it["year_raw"], it["language"],
                        it["ratings_count"]])
    with open(os.path.join(out, "users.csv"), "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["user_id", "declared_interests"])
        w.writerows(users)
    print(f"{len(rows)} interaction rows, {len(items)} books, {len(users)} users")


if __name__ == "__main__":
    main()
