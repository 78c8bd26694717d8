"""Issue 15 benchmark: sentence classification on rt-polarity.

    python benchmarks/rt_polarity_classification.py [--seeds 0 1 2]
        [--minutes 15] [--configs tfidf bilstm scratch pretrained]
        [--pretrain-minutes 10] [--pretrain-steps 3000]

Test accuracy on the classifier task's own split of rt-polarity (8,530 /
1,066 / 1,066 sentences, stratified, seed 0) for:

- tfidf: a TF-IDF word 1-2-gram logistic regression (scikit-learn, a
  benchmark-only dependency; C picked on the validation split);
- bilstm: keras-lm's bidirectional-LSTM classifier from scratch;
- scratch: the Transformer classifier from scratch;
- pretrained: the same Transformer classifier started (`init`) from a
  masked-LM encoder pre-trained here on the 8,530 training sentences of the
  split, without their labels (one pre-training run, shared by the seeds).

Every keras-lm run keeps its best checkpoint by validation loss (early
stopping) and is cut at --minutes of wall time. Each configuration runs
once per seed; the seed sets the initial weights and the data order, never
the split (the classifier task's `split_seed`, default 0). Output goes to stdout and to
benchmarks/results/rt_polarity_classification.txt.
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(__file__))

from machine import describe_machine  # noqa: E402

from keras_lm.data import load_labeled_text  # noqa: E402
from keras_lm.runs import RunDirectory, train  # noqa: E402
from keras_lm.training.callbacks import TimeBudget  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "../../shared/data/rt-polarity")
SPLIT_SEED = 0
MAX_LENGTH = 64
VOCAB_SIZE = 8000

#: The Transformer shape shared by the scratch, pre-training and
#: pre-trained runs (the classifier takes the encoder's shape with init).
TRANSFORMER = {"backbone": "transformer", "d_model": 128, "num_layers": 2,
               "num_heads": 4, "mlp_dim": 256, "max_sequence_length": 64,
               "dropout": 0.1}
CONFIGS = {
    "bilstm": ({"backbone": "lstm", "d_model": 64, "rnn_units": 64,
                "num_layers": 1, "max_sequence_length": 64, "dropout": 0.3},
               {"epochs": 6, "learning_rate": 2e-3, "warmup_steps": 50}),
    "scratch": (TRANSFORMER,
                {"epochs": 6, "learning_rate": 1e-3, "warmup_steps": 100}),
    "pretrained": (TRANSFORMER,
                   {"epochs": 6, "learning_rate": 5e-4, "warmup_steps": 100}),
}
PRETRAIN = {"seq_len": 64, "batch_size": 32, "learning_rate": 3e-3,
            "warmup_steps": 300, "validation_steps": 10,
            "early_stopping_patience": 100}
COMMON = {"batch_size": 32, "early_stopping_patience": 2,
          "steps_per_execution": 8}


class Tee:
    def __init__(self, path):
        self.file = open(path, "w", encoding="utf-8")

    def __call__(self, line=""):
        print(line, flush=True)
        self.file.write(line + "\n")
        self.file.flush()


def tfidf(splits, log):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    start = time.time()
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    features = vectorizer.fit_transform(splits.train.texts)
    best = None
    for c in (1.0, 3.0, 10.0, 30.0):
        model = LogisticRegression(C=c, max_iter=2000).fit(
            features, splits.train.labels)
        val = (model.predict(vectorizer.transform(splits.validation.texts))
               == splits.validation.labels).mean()
        if best is None or val > best[0]:
            best = (val, c, model)
    val, c, model = best
    test = (model.predict(vectorizer.transform(splits.test.texts))
            == splits.test.labels).mean()
    wall = time.time() - start
    log(f"tfidf: C={c:g} (best validation accuracy {val:.4f}), test "
        f"accuracy {test:.4f}, {wall:.0f} s for all four C")
    return test, wall


def pretrain(workdir, corpus, minutes, steps, log):
    out = os.path.join(workdir, "mlm")
    model = {k: v for k, v in TRANSFORMER.items() if k != "backbone"}
    budget = TimeBudget(minutes)
    start = time.time()
    epochs = 20
    per_epoch = max(8, steps // epochs // 8 * 8)
    train("encoder", out, data=corpus, model_config=model, verbose=2,
          training=dict(PRETRAIN, epochs=epochs,
                        steps_per_epoch=per_epoch, seed=0,
                        steps_per_execution=8),
          callbacks=[budget], vocab_size=VOCAB_SIZE, mask_rate=0.15)
    wall = time.time() - start
    scores = RunDirectory(out).load().evaluate()
    log(f"masked-LM pre-training on the {corpus_lines(corpus):,} training "
        f"sentences (no labels): {wall / 60:.1f} min, "
        + (f"cut by the budget after {budget.stopped_at_step} steps" if budget.stopped_at_step
           else f"{per_epoch * epochs} steps")
        + f"; validation masked-token loss {scores['loss']:.3f}, accuracy "
        f"{scores.get('masked_accuracy', scores.get('accuracy', 0.0)):.3f}, "
        f"load {load()}")
    return out


def corpus_lines(path):
    with open(path, encoding="utf-8") as f:
        return sum(1 for line in f if line.strip())


def load():
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def classifier(name, seed, minutes, workdir, init, log):
    model, recipe = CONFIGS[name]
    out = os.path.join(workdir, f"{name}-{seed}")
    shutil.rmtree(out, ignore_errors=True)
    budget = TimeBudget(minutes)
    options = {"init": init} if name == "pretrained" else {}
    start = time.time()
    history = train("classifier", out, data=DATA, model_config=dict(model),
                    training=dict(COMMON, seed=seed, **recipe), verbose=0,
                    callbacks=[budget], max_length=MAX_LENGTH,
                    vocab_size=VOCAB_SIZE, **options)
    wall = time.time() - start
    task = RunDirectory(out).load()
    test = task.evaluate(split="test")
    val = task.evaluate(split="validation")
    epochs = len(history.history.get("loss", [])) if history else 0
    log(f"{name} seed {seed}: test accuracy {test['accuracy']:.4f} "
        f"(macro-F1 {test['macro_f1']:.4f}), validation accuracy "
        f"{val['accuracy']:.4f}, {epochs} epochs, {wall / 60:.1f} min"
        + (f" (cut by the budget after "
           f"{budget.stopped_at_step} steps)"
           if budget.stopped_at_step else "") + f", load {load()}")
    shutil.rmtree(out, ignore_errors=True)
    return test["accuracy"], wall


def summary(name, scores, walls):
    mean = statistics.mean(scores)
    std = statistics.stdev(scores) if len(scores) > 1 else 0.0
    return (f"| {name} | {len(scores)} | {100 * mean:.1f} +- {100 * std:.1f} "
            f"| {100 * min(scores):.1f} / {100 * max(scores):.1f} "
            f"| {statistics.mean(walls) / 60:.1f} min |")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--minutes", type=float, default=15.0,
                        help="wall-time budget of each classifier run")
    parser.add_argument("--configs", nargs="+",
                        default=["tfidf", "bilstm", "scratch", "pretrained"],
                        choices=["tfidf", "bilstm", "scratch", "pretrained"])
    parser.add_argument("--pretrain-minutes", type=float, default=8.0)
    parser.add_argument("--pretrain-steps", type=int, default=3000)
    parser.add_argument("--init", help="an existing masked-LM run to start "
                        "the pretrained configuration from (skips "
                        "pre-training)")
    parser.add_argument("--workdir", help="keep the runs (the masked-LM "
                        "one included) here instead of a removed temp dir")
    parser.add_argument("--output", default=os.path.join(
        HERE, "results", "rt_polarity_classification.txt"))
    args = parser.parse_args()
    log = Tee(args.output)
    log(f"machine: {describe_machine()}; load at start {load()}")
    log(f"command: python benchmarks/{os.path.basename(__file__)} "
        + " ".join(sys.argv[1:]))
    splits = load_labeled_text(DATA, seed=SPLIT_SEED)
    log(f"data: {splits.describe()}")
    workdir = args.workdir or tempfile.mkdtemp(prefix="keras_lm_rt_")
    os.makedirs(workdir, exist_ok=True)
    results = {}
    if "tfidf" in args.configs:
        test, wall = tfidf(splits, log)
        results["tfidf"] = ([test], [wall])
    init = args.init
    for name in ("scratch", "pretrained", "bilstm"):
        if name not in args.configs:
            continue
        if name == "pretrained" and not init:
            corpus = os.path.join(workdir, "rt_train.txt")
            with open(corpus, "w", encoding="utf-8") as f:
                f.write("\n".join(t.strip() for t in splits.train.texts)
                        + "\n")
            init = pretrain(workdir, corpus, args.pretrain_minutes,
                            args.pretrain_steps, log)
        model, recipe = CONFIGS[name]
        log(f"{name}: model {model}, training {dict(COMMON, **recipe)}")
        for seed in args.seeds:
            test, wall = classifier(name, seed, args.minutes, workdir, init,
                                    log)
            results.setdefault(name, ([], []))
            results[name][0].append(test)
            results[name][1].append(wall)
    log()
    log("| configuration | runs | test accuracy % (mean +- std) "
        "| min / max | wall per run |")
    log("| --- | ---: | ---: | ---: | ---: |")
    for name, (scores, walls) in results.items():
        log(summary(name, scores, walls))
    if not args.workdir:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
