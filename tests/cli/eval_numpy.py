"""Independent numpy computation of signmf eval's figures.

Usage: eval_numpy.py EXPORT_DIR TRAIN TEST K RELEVANT
Reads P.npy (users x dim) and Q.npy (dim x items) from EXPORT_DIR and the
raw MovieLens-style files (user item rating ...; ids are direct: row = id-1)
and prints the figures as JSON in the layout of `signmf eval --json`.
"""
import json
import sys

import numpy as np


def load(path):
    a = np.loadtxt(path, dtype=np.float64, ndmin=2)
    return a[:, 0].astype(np.int64), a[:, 1].astype(np.int64), a[:, 2]


def figures(S, rated, rel_items, k, nitems):
    """S: users x items scores; rated: bool users x items; rel_items: dict
    user -> sorted array of relevant item indices."""
    prec, rec, ndcg, ap, hit, auc = [], [], [], [], [], []
    covered = np.zeros(nitems, dtype=bool)
    for u in sorted(rel_items):
        R = rel_items[u]
        unrated = ~rated[u]
        # descending score, ties to the lower index
        order = np.lexsort((np.arange(nitems), -S[u]))
        order = order[unrated[order]]
        top = order[:k]
        covered[top] = True
        isrel = np.isin(top, R)
        h = int(isrel.sum())
        ranks = np.nonzero(isrel)[0]
        dcg = float(np.sum(1.0 / np.log2(ranks + 2.0)))
        m = min(k, len(R))
        idcg = float(np.sum(1.0 / np.log2(np.arange(m) + 2.0)))
        prec.append(h / k)
        rec.append(h / len(R))
        ndcg.append(dcg / idcg)
        ap.append(float(np.sum(np.cumsum(isrel)[ranks] / (ranks + 1.0))) / m)
        hit.append(1.0 if h > 0 else 0.0)
        # AUC: pairs (r, n), r relevant, n unrated and not relevant, with r
        # before n in the full ranking of the unrated items
        pos = np.empty(nitems, dtype=np.int64)
        pos[order] = np.arange(len(order))
        neg = np.setdiff1d(np.nonzero(unrated)[0], R)
        if len(neg) > 0:
            pn = pos[neg]
            above = sum(int(np.sum(pn > pos[r])) for r in R)
            auc.append(above / (len(R) * len(neg)))
    n = len(prec)
    mean = lambda v: float(np.mean(v)) if len(v) else None
    return {
        "precision": mean(prec), "recall": mean(rec), "ndcg": mean(ndcg), "map": mean(ap),
        "hit": mean(hit), "auc": mean(auc),
        "coverage": float(covered.sum()) / nitems if n else None,
    }, n, len(auc)


def main():
    exp, train, test, k, relevant = sys.argv[1:6]
    k = int(k)
    relevant = float(relevant)
    P = np.load(exp + "/P.npy").astype(np.float64)
    Q = np.load(exp + "/Q.npy").astype(np.float64)
    nu, ni = P.shape[0], Q.shape[1]
    tu, ti, _ = load(train)
    rated = np.zeros((nu, ni), dtype=bool)
    rated[tu - 1, ti - 1] = True
    S = P @ Q
    pop = rated.sum(axis=0).astype(np.float64)
    Spop = np.broadcast_to(pop, (nu, ni))
    eu, ei, er = load(test)
    counts = dict(test_pairs=len(eu), unknown_user_pairs=0, unknown_item_pairs=0,
                  train_pairs=0, relevant_pairs=0)
    rel = {}
    users = set()
    for u, i, r in zip(eu, ei, er):
        if not 1 <= u <= nu:
            counts["unknown_user_pairs"] += 1
            continue
        if not 1 <= i <= ni:
            counts["unknown_item_pairs"] += 1
            continue
        if rated[u - 1, i - 1]:
            counts["train_pairs"] += 1
            continue
        users.add(u)
        if r >= relevant:
            rel.setdefault(u - 1, []).append(i - 1)
            counts["relevant_pairs"] += 1
    rel = {u: np.array(sorted(v)) for u, v in rel.items()}
    model, n, nauc = figures(S, rated, rel, k, ni)
    popm, _, _ = figures(Spop, rated, rel, k, ni)
    counts.update(test_users=len(users), users=n, auc_users=nauc)
    print(json.dumps({"k": k, "relevant": relevant, "model": model, "popularity": popm,
                      "counts": counts}))


if __name__ == "__main__":
    main()
