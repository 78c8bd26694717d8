"""Importing Hugging Face BERT checkpoints: the same hidden states and logits
as PyTorch (padded batches, segment ids, erf and tanh GELU), old key names,
a run directory, and one-line errors for bad checkpoints."""

import json
import os
import shutil

import keras
import numpy as np
import pytest

from keras_lm.checkpoints import import_bert, is_bert_checkpoint, load_bert
from keras_lm.errors import KerasLMError
from keras_lm.models import MaskedLanguageModel, TextClassifier
from keras_lm.tokenizers.base import load_tokenizer

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
safetensors_numpy = pytest.importorskip("safetensors.numpy")

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = ("the a an of and to in is it that was for on with as at by this "
         "from be or are have not but film movie good bad great dull fine "
         "story actor plot scene love hate very so too much more most less "
         "one two three time day night man woman world life way year "
         "make see go come take know think look want give use find tell "
         "work call try ask need feel become leave put mean keep let begin "
         "seem help show hear play run move live believe").split()
VOCAB = SPECIALS + WORDS + ["##s", "##ed", "##ing", "##ly", ".", ",", "!"]
LABELS = ["negative", "neutral", "positive"]
# Two rows, the first padded: [CLS] ... [SEP] [PAD] [PAD].
IDS = np.array([[2, 30, 31, 45, 60, 3, 0, 0],
                [2, 7, 33, 34, 3, 12, 40, 3]], "int64")
SEGMENTS = np.array([[0] * 8, [0, 0, 0, 0, 0, 1, 1, 1]], "int64")
MASK = (IDS != 0).astype("int64")


def bert_config(**overrides):
    settings = dict(vocab_size=len(VOCAB), hidden_size=32,
                    num_hidden_layers=2, num_attention_heads=4,
                    intermediate_size=48, max_position_embeddings=16,
                    initializer_range=0.2)
    return transformers.BertConfig(**{**settings, **overrides})


def save(model, directory):
    model.save_pretrained(directory, safe_serialization=True)
    with open(os.path.join(directory, "vocab.txt"), "w",
              encoding="utf-8") as f:
        f.write("\n".join(VOCAB) + "\n")
    return directory


@pytest.fixture(scope="module")
def hf(tmp_path_factory):
    """Small random BERTs saved by transformers: `{name: (model, dir)}`."""
    root = tmp_path_factory.mktemp("hf")
    torch.manual_seed(0)
    mlm = transformers.BertForMaskedLM(bert_config()).eval()
    classifier = transformers.BertForSequenceClassification(bert_config(
        hidden_act="gelu_new", num_labels=3,
        id2label=dict(enumerate(LABELS)),
        label2id={name: i for i, name in enumerate(LABELS)})).eval()
    return {"mlm": (mlm, save(mlm, str(root / "mlm"))),
            "bert": (mlm.bert, save(mlm.bert, str(root / "bert"))),
            "classifier": (classifier,
                           save(classifier, str(root / "classifier")))}


def torch_outputs(model):
    with torch.no_grad():
        return model(input_ids=torch.tensor(IDS),
                     attention_mask=torch.tensor(MASK),
                     token_type_ids=torch.tensor(SEGMENTS),
                     output_hidden_states=True)


def assert_real_positions_close(actual, expected):
    real = MASK.astype(bool)
    np.testing.assert_allclose(np.asarray(actual)[real],
                               np.asarray(expected)[real], atol=1e-4)


def keras_inputs():
    return {"token_ids": IDS.astype("int32"),
            "segment_ids": SEGMENTS.astype("int32")}


def test_is_bert_checkpoint(hf, tmp_path):
    assert all(is_bert_checkpoint(d) for _, d in hf.values())
    assert not is_bert_checkpoint(str(tmp_path))


def test_masked_lm_matches_pytorch(hf):
    hf_model, directory = hf["mlm"]
    model, tokenizer, info = load_bert(directory)
    assert isinstance(model, MaskedLanguageModel)
    assert info["family"] == "encoder" and info["mlm_head"] == "imported"
    assert tokenizer.vocab_size == len(VOCAB) and tokenizer.lowercase
    expected = torch_outputs(hf_model)
    assert_real_positions_close(
        model.encoder(IDS, segment_ids=SEGMENTS),
        expected.hidden_states[-1].numpy())
    assert_real_positions_close(model(keras_inputs()),
                                expected.logits.numpy())


def test_bert_model_imports_its_encoder(hf):
    hf_model, directory = hf["bert"]
    model, _, info = load_bert(directory)
    assert info["architecture"] == "BertModel"
    assert info["mlm_head"] == "initialised"
    assert_real_positions_close(model.encoder(IDS, segment_ids=SEGMENTS),
                                torch_outputs(hf_model).last_hidden_state)


def test_classifier_matches_pytorch(hf):
    hf_model, directory = hf["classifier"]
    model, _, info = load_bert(directory)
    assert isinstance(model, TextClassifier)
    assert model.pooling == "cls" and model.encoder.gelu_approximate
    assert info["label_names"] == LABELS
    np.testing.assert_allclose(model(keras_inputs()),
                               torch_outputs(hf_model).logits.numpy(),
                               atol=1e-4)


def rewrite(directory, target, change):
    """A copy of checkpoint `directory` at `target` whose tensors are
    `change(dict of NumPy arrays)`."""
    shutil.copytree(directory, target)
    path = os.path.join(target, "model.safetensors")
    tensors = safetensors_numpy.load_file(path)
    safetensors_numpy.save_file(change(tensors), path)
    return str(target)


def test_old_key_names_import_the_same(hf, tmp_path):
    hf_model, directory = hf["mlm"]

    def old_names(tensors):
        renamed = {}
        for name, value in tensors.items():
            if "LayerNorm" in name:
                name = name.replace(".weight", ".gamma").replace(".bias",
                                                                 ".beta")
            renamed[name] = value
        # Older files also store the tied decoder and its bias.
        renamed["cls.predictions.decoder.weight"] = renamed[
            "bert.embeddings.word_embeddings.weight"]
        renamed["cls.predictions.decoder.bias"] = renamed.pop(
            "cls.predictions.bias")
        return renamed

    old = rewrite(directory, tmp_path / "old", old_names)
    assert any(name.endswith("LayerNorm.gamma") for name in
               safetensors_numpy.load_file(f"{old}/model.safetensors"))
    model, _, _ = load_bert(old)
    assert_real_positions_close(model(keras_inputs()),
                                torch_outputs(hf_model).logits.numpy())


def test_import_writes_a_run_directory(hf, tmp_path):
    hf_model, directory = hf["classifier"]
    cased = shutil.copytree(directory, tmp_path / "cased")
    (cased / "tokenizer_config.json").write_text(
        json.dumps({"do_lower_case": False}))
    run_dir = import_bert(str(cased), str(tmp_path / "run"))
    with open(os.path.join(run_dir, "config.json"), encoding="utf-8") as f:
        config = json.load(f)
    assert config["finished"] is True
    assert config["model"]["family"] == "classifier"
    assert config["model"]["config"]["num_classes"] == 3
    assert config["data"]["label_names"] == LABELS
    assert config["tokenizer"]["kind"] == "wordpiece"
    tokenizer = load_tokenizer(run_dir)
    assert tokenizer.lowercase is False and tokenizer.vocab_size == len(VOCAB)
    expected = torch_outputs(hf_model).logits.numpy()
    rebuilt = TextClassifier(**config["model"]["config"])
    rebuilt.build()
    rebuilt.load_weights(os.path.join(run_dir, "checkpoints",
                                      "best.weights.h5"))
    loaded = keras.saving.load_model(os.path.join(run_dir, "model.keras"))
    for model in (rebuilt, loaded):
        np.testing.assert_allclose(model(keras_inputs()), expected,
                                   atol=1e-4)
    assert os.path.isfile(os.path.join(run_dir, "checkpoints",
                                       "last.weights.h5"))
    with pytest.raises(KerasLMError):  # never over an existing run
        import_bert(str(cased), run_dir)


def drop(name):
    return lambda tensors: {k: v for k, v in tensors.items() if k != name}


def shrink(name):
    return lambda tensors: {k: (v[:-1] if k == name else v)
                            for k, v in tensors.items()}


@pytest.mark.parametrize("change, match", [
    (drop("bert.encoder.layer.1.output.dense.bias"),
     "no tensor encoder.layer.1.output.dense.bias"),
    (shrink("bert.encoder.layer.0.intermediate.dense.weight"),
     r"intermediate.dense.weight has shape \(47, 32\)"),
    ("vocab", f"vocab.txt has {len(VOCAB) + 1} tokens but config.json says "
              f"vocab_size={len(VOCAB)}"),
])
def test_bad_checkpoints_raise_one_line_errors(hf, tmp_path, change, match):
    _, directory = hf["mlm"]
    if change == "vocab":
        bad = shutil.copytree(directory, tmp_path / "bad")
        with open(bad / "vocab.txt", "a", encoding="utf-8") as f:
            f.write("extra\n")
    else:
        bad = rewrite(directory, tmp_path / "bad", change)
    with pytest.raises(KerasLMError, match=match) as error:
        load_bert(str(bad))
    assert "\n" not in str(error.value)


def test_pipelines_run_on_bert_folders_as_transformers_does(hf):
    """keras_lm.pipeline on a BERT folder gives transformers' answers."""
    from keras_lm import pipeline

    texts = ["the film was good .", "a dull story of one man"]
    classifier, classifier_dir = hf["classifier"]
    hf_tokenizer = transformers.BertTokenizerFast.from_pretrained(
        classifier_dir)
    batch = hf_tokenizer(texts, return_tensors="pt", padding=True)
    with torch.no_grad():
        probabilities = torch.softmax(classifier(**batch).logits, -1).numpy()
    ours = pipeline("text-classification", model=classifier_dir)(
        texts, top_k=None)
    for row, ranked in zip(probabilities, ours):
        assert ranked[0]["label"] == LABELS[row.argmax()]
        np.testing.assert_allclose(
            [r["score"] for r in ranked], np.sort(row)[::-1], atol=1e-4)

    mlm, mlm_dir = hf["mlm"]
    expected = transformers.pipeline("fill-mask", model=mlm,
                                     tokenizer=hf_tokenizer, top_k=3)(
        "the [MASK] was good .")
    got = pipeline("fill-mask", model=mlm_dir)("the [MASK] was good .",
                                              top_k=3)
    assert [g["token"] for g in got] == [e["token"] for e in expected]
    np.testing.assert_allclose([g["score"] for g in got],
                               [e["score"] for e in expected], atol=1e-4)

    features = pipeline("feature-extraction", model=mlm_dir)(texts[0])
    with torch.no_grad():
        hidden = mlm.bert(**hf_tokenizer(texts[0], return_tensors="pt"))
    np.testing.assert_allclose(np.array(features)[0],
                               hidden.last_hidden_state[0].numpy(),
                               atol=1e-4)


def test_keras_lm_import_then_classify(hf, tmp_path, capsys):
    from keras_lm.cli import main

    out = str(tmp_path / "imported")
    assert main(["import", hf["classifier"][1], "--out", out]) == 0
    assert main(["classify", out, "--text", "the film was good ."]) == 0
    label, probability, text = capsys.readouterr().out.splitlines()[-1].split(
        "\t")
    assert label in LABELS and 0 < float(probability) <= 1
    assert main(["import", str(tmp_path), "--out", out]) == 2
    assert "not a GPT-2, Llama, Qwen2, Mistral or BERT" in capsys.readouterr().err
