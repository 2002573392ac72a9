#!/usr/bin/env python3
"""Train a handwritten-digit classifier on scikit-learn's bundled `load_digits` data set.

A small but real training job for trainyard: k-fold cross-validation with progress printed per
fold (so `aom-log` and `trainyard logs --follow` have something to show while it runs), a final
fit, a held-out test score, and the model (`model.joblib`) plus `metrics.json` written to
`--train_url`. No download: the 1,797 8x8 images ship with scikit-learn.

Arguments follow the ModelArts boot-file convention (`--<label>=<value>` per parameter, then
`--data_url` and `--train_url`); `--data_url` is accepted and ignored.
"""

import argparse
import json
import os
import sys
import time

import joblib
import numpy as np
from sklearn.datasets import load_digits
from sklearn.metrics import accuracy_score, classification_report, confusion_matrix
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train_url", default=os.environ.get("TRAIN_URL") or "./output",
                   help="output directory (model.joblib, metrics.json)")
    p.add_argument("--data_url", default=os.environ.get("DATA_URL", ""),
                   help="ignored: the data set is bundled with scikit-learn")
    p.add_argument("--folds", type=int, default=5, help="cross-validation folds (>= 2)")
    p.add_argument("--C", type=float, default=10.0, help="SVM regularisation")
    p.add_argument("--gamma", default="scale", help="RBF kernel width ('scale' or a number)")
    p.add_argument("--test_size", type=float, default=0.25, help="held-out fraction")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    # Unknown --label=value parameters are tolerated (ModelArts passes every parameter).
    args, unknown = p.parse_known_args(argv)
    if unknown:
        print(f"ignoring unknown arguments: {' '.join(unknown)}")
    if args.folds < 2:
        p.error("--folds must be at least 2")
    return args


def model(args):
    gamma = args.gamma if args.gamma in ("scale", "auto") else float(args.gamma)
    return make_pipeline(StandardScaler(), SVC(C=args.C, gamma=gamma, kernel="rbf"))


def main(argv):
    args = parse_args(argv)
    started = time.time()
    # With worker_server_num > 1 every worker gets RANK/WORLD_SIZE (runtime.md); this small job
    # has nothing to share, so each worker trains on its own and only rank 0 writes the outputs.
    rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        print(f"worker RANK={rank} of WORLD_SIZE={world} "
              f"(MASTER_ADDR={os.environ.get('MASTER_ADDR', '')}, "
              f"MASTER_PORT={os.environ.get('MASTER_PORT', '')})")
    digits = load_digits()
    x, y = digits.data, digits.target
    print(f"digits: {len(y)} images of {digits.images.shape[1]}x{digits.images.shape[2]} pixels, "
          f"{len(np.unique(y))} classes")
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=args.test_size, random_state=args.seed, stratify=y)
    print(f"train {len(y_train)} / test {len(y_test)}; SVC(C={args.C}, gamma={args.gamma}); "
          f"{args.folds}-fold cross-validation")

    folds = StratifiedKFold(n_splits=args.folds, shuffle=True, random_state=args.seed)
    scores = []
    for i, (tr, va) in enumerate(folds.split(x_train, y_train), start=1):
        t0 = time.time()
        clf = model(args).fit(x_train[tr], y_train[tr])
        acc = accuracy_score(y_train[va], clf.predict(x_train[va]))
        scores.append(acc)
        print(f"fold {i}/{args.folds}: validation accuracy {acc:.4f} "
              f"({len(va)} images, {time.time() - t0:.2f}s)")
    print(f"cross-validation accuracy {np.mean(scores):.4f} +- {np.std(scores):.4f}")

    final = model(args).fit(x_train, y_train)
    pred = final.predict(x_test)
    test_acc = accuracy_score(y_test, pred)
    print(f"test accuracy {test_acc:.4f} on {len(y_test)} held-out images")
    print(classification_report(y_test, pred, digits=3))

    if rank != 0:
        print(f"rank {rank}: the outputs are written by rank 0")
        return 0
    os.makedirs(args.train_url, exist_ok=True)
    model_path = os.path.join(args.train_url, "model.joblib")
    joblib.dump(final, model_path)
    metrics = {
        "model": "StandardScaler + SVC(rbf)",
        "params": {"C": args.C, "gamma": args.gamma, "folds": args.folds,
                   "test_size": args.test_size, "seed": args.seed},
        "n_train": int(len(y_train)),
        "n_test": int(len(y_test)),
        "cv_accuracy": [round(float(s), 6) for s in scores],
        "cv_accuracy_mean": round(float(np.mean(scores)), 6),
        "test_accuracy": round(float(test_acc), 6),
        "confusion_matrix": confusion_matrix(y_test, pred).tolist(),
        "seconds": round(time.time() - started, 3),
    }
    tmp = os.path.join(args.train_url, ".metrics.json.tmp")
    with open(tmp, "w") as f:
        json.dump(metrics, f, indent=2)
    os.replace(tmp, os.path.join(args.train_url, "metrics.json"))
    print(f"wrote {model_path} and metrics.json to {args.train_url}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
