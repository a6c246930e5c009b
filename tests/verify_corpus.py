"""Generated repositories with planted defects, shared by tests/test_verify.py and bench/verify.py.

A clean base repository (flat, or a `src/` package with relative imports) gets one
defect planted; each case records the exact (kind, file, line) verification must
report. `I` in library files and `M` in main.py stand for the import prefix.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

CONFIG = """\
seed: 42
data:
  num_samples: 256
  in_dim: 16
  batch_size: 32
model:
  hidden_dim: 128
  num_layers: 2
  dropout: 0.1
train:
  lr: 0.001
  weight_decay: 1.0e-05
  epochs: 3
  checkpoint: checkpoints/model.pt
"""

REQUIREMENTS = ["torch>=2.0", "numpy", "pandas", "pyyaml", "tqdm", "scikit-learn"]

UTILS = '''\
"""Shared helpers: config loading, seeding, directories."""

from __future__ import annotations

import os
import random

import numpy as np
import torch
import yaml


def load_config(path: str) -> dict:
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def ensure_dir(path: str) -> str:
    if path:
        os.makedirs(path, exist_ok=True)
    return path
'''

DATA = '''\
"""Synthetic data: a linearly separable problem, so no download is needed."""

from __future__ import annotations

import pandas as pd
import torch
from torch.utils.data import DataLoader, TensorDataset


class SyntheticData:
    def __init__(self, num_samples: int, in_dim: int, seed: int = 0) -> None:
        self.num_samples = num_samples
        self.in_dim = in_dim
        self.seed = seed

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        gen = torch.Generator().manual_seed(self.seed)
        x = torch.randn(self.num_samples, self.in_dim, generator=gen)
        y = (x.sum(dim=1) > 0).long()
        return x, y

    def describe(self) -> pd.DataFrame:
        x, y = self.tensors()
        return pd.DataFrame({"mean": x.mean(dim=1).tolist(), "label": y.tolist()})


def build_loader(config: dict, shuffle: bool = True) -> DataLoader:
    data_cfg = config["data"]
    data = SyntheticData(data_cfg["num_samples"], data_cfg["in_dim"], seed=config["seed"])
    x, y = data.tensors()
    return DataLoader(TensorDataset(x, y), batch_size=data_cfg["batch_size"], shuffle=shuffle)
'''

MODEL = '''\
"""The model: a multilayer perceptron."""

from __future__ import annotations

import torch
from torch import nn


class MLP(nn.Module):
    def __init__(self, in_dim: int, hidden_dim: int, num_layers: int = 2, dropout: float = 0.0) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        dim = in_dim
        for _ in range(num_layers):
            layers += [nn.Linear(dim, hidden_dim), nn.ReLU(), nn.Dropout(dropout)]
            dim = hidden_dim
        layers.append(nn.Linear(dim, 2))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def build_model(config: dict, in_dim: int) -> MLP:
    m = config["model"]
    return MLP(in_dim, m["hidden_dim"], num_layers=m["num_layers"], dropout=m["dropout"])
'''

TRAIN = '''\
"""Training loop."""

from __future__ import annotations

import os

import torch
from torch import nn
from tqdm import tqdm

from Idata import build_loader
from Imodel import build_model
from Iutils import ensure_dir


class Trainer:
    def __init__(self, model: nn.Module, loader, lr: float, weight_decay: float = 0.0) -> None:
        self.model = model
        self.loader = loader
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
        self.loss_fn = nn.CrossEntropyLoss()

    def train_epoch(self) -> float:
        self.model.train()
        total = 0.0
        for x, y in tqdm(self.loader, leave=False):
            self.optimizer.zero_grad()
            loss = self.loss_fn(self.model(x), y)
            loss.backward()
            self.optimizer.step()
            total += loss.item()
        return total / max(1, len(self.loader))

    def fit(self, epochs: int) -> list[float]:
        return [self.train_epoch() for _ in range(epochs)]


def train(config: dict) -> Trainer:
    loader = build_loader(config)
    model = build_model(config, in_dim=config["data"]["in_dim"])
    tc = config["train"]
    trainer = Trainer(model, loader, lr=tc["lr"], weight_decay=tc.get("weight_decay", 0.0))
    trainer.fit(tc["epochs"])
    ensure_dir(os.path.dirname(tc["checkpoint"]))
    torch.save(model.state_dict(), tc["checkpoint"])
    return trainer
'''

EVALUATE = '''\
"""Evaluation: accuracy of the trained model."""

from __future__ import annotations

import torch
from sklearn.metrics import accuracy_score

from Idata import build_loader
from Imodel import build_model


@torch.no_grad()
def evaluate(config: dict) -> float:
    model = build_model(config, config["data"]["in_dim"])
    model.load_state_dict(torch.load(config["train"]["checkpoint"]))
    model.eval()
    preds, labels = [], []
    for x, y in build_loader(config, shuffle=False):
        preds += model(x).argmax(dim=1).tolist()
        labels += y.tolist()
    return float(accuracy_score(labels, preds))
'''

MAIN = '''\
"""Entry point: train, then evaluate."""

from __future__ import annotations

import argparse

from Mevaluate import evaluate
from Mtrain import train
from Mutils import load_config, set_seed


def main() -> None:
    parser = argparse.ArgumentParser(description="Reproduce the paper")
    parser.add_argument("--config", default="config.yaml")
    parser.add_argument("--dry-run", action="store_true", help="load the config and stop")
    args = parser.parse_args()
    config = load_config(args.config)
    set_seed(config["seed"])
    if args.dry_run:
        return
    train(config)
    print(f"accuracy: {evaluate(config):.3f}")


if __name__ == "__main__":
    main()
'''

LOGIC = {
    "utils": "load_config reads YAML; set_seed seeds random, numpy, torch; ensure_dir makes directories.",
    "data": "SyntheticData makes a separable problem (tensors, describe); build_loader wraps it in a DataLoader.",
    "model": "MLP with forward; build_model reads the model section of the config.",
    "train": "Trainer with train_epoch (one pass, AdamW) and fit; train(config) trains and saves a checkpoint.",
    "evaluate": "evaluate(config) loads the checkpoint and computes accuracy.",
    "main": "main parses --config and --dry-run, seeds, trains and evaluates.",
}
LIB = ["utils", "data", "model", "train", "evaluate"]


@dataclass
class Case:
    name: str
    kind: str  # the planted defect's kind, or "clean"
    files: dict[str, str]
    config_yaml: str
    requirements: list[str]
    entry_point: str
    must_work: dict[str, str]
    expected: list[tuple[str, str, int | None]] = field(default_factory=list)
    data_to_provide: list[str] = field(default_factory=list)


class Repo:
    """The base repository in one layout, with helpers to plant a defect and locate it."""

    def __init__(self, packaged: bool) -> None:
        self.lib_dir = "src/" if packaged else ""
        imp_lib, imp_main = (".", "src.") if packaged else ("", "")
        texts = {"utils": UTILS, "data": DATA, "model": MODEL, "train": TRAIN, "evaluate": EVALUATE}
        self.files = {self.path(n): t.replace("from I", "from " + imp_lib) for n, t in texts.items()}
        if packaged:
            self.files["src/__init__.py"] = '"""The implementation."""\n'
        self.files["main.py"] = MAIN.replace("from M", "from " + imp_main)
        self.imp = imp_lib
        self.config = CONFIG
        self.requirements = list(REQUIREMENTS)
        self.entry = "main.py"
        self.expected: list[tuple[str, str, int | None]] = []
        self.data: list[str] = []

    def path(self, name: str) -> str:
        return "main.py" if name == "main" else f"{self.lib_dir}{name}.py"

    def line_of(self, name: str, needle: str) -> int:
        lines = self.files[self.path(name)].splitlines()
        hits = [i for i, line in enumerate(lines, start=1) if needle in line]
        assert len(hits) == 1, (name, needle, hits)
        return hits[0]

    def replace(self, name: str, old: str, new: str) -> None:
        text = self.files[self.path(name)]
        assert text.count(old) == 1, (name, old)
        self.files[self.path(name)] = text.replace(old, new)

    def insert_after(self, name: str, anchor: str, new: str) -> None:
        self.replace(name, anchor, anchor + new)

    def expect(self, kind: str, name: str, needle: str | None) -> None:
        file = name if name.endswith((".txt", ".yaml")) or "/" in name else self.path(name)
        if needle is None:
            self.expected.append((kind, file, None))
        elif name == "config.yaml":
            line = next(i for i, t in enumerate(self.config.splitlines(), start=1) if needle in t)
            self.expected.append((kind, file, line))
        else:
            self.expected.append((kind, file, self.line_of(name, needle)))

    def case(self, name: str, kind: str) -> Case:
        must_work = {self.path(n): LOGIC[n] for n in [*LIB, "main"]}
        return Case(
            name, kind, dict(self.files), self.config, self.requirements, self.entry, must_work,
            sorted(self.expected, key=str), self.data,
        )  # fmt: skip


def _syntax(r: Repo, v: int) -> None:
    target = ["model", "data", "evaluate"][v]
    r.files[r.path(target)] += "\n\ndef broken(x:\n    return x\n"
    r.expect("syntax_error", target, "def broken(x:")


def _missing_module(r: Repo, v: int) -> None:
    line = ["from {I}helpers import smooth", "import nets.layers", "from {I}model.layers import Block"][v]
    line = line.replace("{I}", r.imp)
    r.insert_after("train", "from tqdm import tqdm\n", f"\n{line}\n")
    r.expect("missing_module", "train", line)


def _undefined_name(r: Repo, v: int) -> None:
    name, old, new = [
        ("train", "import build_model\n", "import ResNet, build_model\n"),
        ("main", "import load_config, set_seed", "import load_config, save_config, set_seed"),
        ("evaluate", "import build_loader\n", "import Tokenizer, build_loader\n"),
    ][v]
    r.replace(name, old, new)
    r.expect("undefined_name", name, new.strip())


def _missing_requirement(r: Repo, v: int) -> None:
    name, anchor, line = [
        ("model", "import torch\n", "import einops\n"),
        ("evaluate", "import torch\n", "import matplotlib.pyplot as plt\n"),
        ("data", "import pandas as pd\n", "from scipy import stats\n"),
    ][v]
    r.insert_after(name, anchor, line)
    r.expect("missing_requirement", name, line.strip())


def _unused_requirement(r: Repo, v: int) -> None:
    r.requirements.insert(v + 1, ["matplotlib", "seaborn>=0.12", "wandb"][v])
    r.expected.append(("unused_requirement", "requirements.txt", v + 2))


def _missing_config_key(r: Repo, v: int) -> None:
    name, old, new = [
        ("train", 'trainer.fit(tc["epochs"])', 'trainer.fit(tc["epochs"] + tc["warmup_epochs"])'),
        ("model", 'dropout=m["dropout"]', 'dropout=m["dropout"] * m["num_heads"]'),
        ("main", 'set_seed(config["seed"])', 'set_seed(config["seed"])\n    print(config["optim"]["beta1"])'),
    ][v]
    r.replace(name, old, new)
    r.expect("missing_config_key", name, new.split("\n")[-1].strip())


def _number_as_string(r: Repo, v: int) -> None:
    old, new = [
        ("weight_decay: 1.0e-05", "weight_decay: 1e-5"),
        ("lr: 0.001", "lr: 1e-3"),
        ("dropout: 0.1", "dropout: 5E-2"),
    ][v]
    r.config = r.config.replace(old, new)
    r.expect("config_number_as_string", "config.yaml", new)


def _signature(r: Repo, v: int) -> None:
    name, old, new = [
        ("train", "build_model(config, in_dim=", "build_model(config, 16, in_dim="),
        (
            "evaluate",
            "build_loader(config, shuffle=False)",
            "build_loader(config, shuffle=False, drop_last=True)",
        ),
        ("main", 'set_seed(config["seed"])', "set_seed()"),
    ][v]
    r.replace(name, old, new)
    r.expect("signature_mismatch", name, new)


def _no_entry_point(r: Repo, v: int) -> None:
    if v == 0:
        r.replace("main", 'if __name__ == "__main__":\n    main()\n', "main\n")
        r.expect("no_entry_point", "main", None)
    elif v == 1:
        r.entry = "run.py"
        r.expected.append(("no_entry_point", "run.py", None))
    else:
        r.replace(
            "main", 'if __name__ == "__main__":\n    main()\n', 'if __name__ == "__main__":\n    pass\n'
        )
        r.expect("no_entry_point", "main", 'if __name__ == "__main__":')


def _placeholder(r: Repo, v: int) -> None:
    if v == 0:
        start = r.files[r.path("train")].index("        self.model.train()\n")
        end = r.files[r.path("train")].index("        return total / max(1, len(self.loader))\n")
        body = r.files[r.path("train")][
            start : end + len("        return total / max(1, len(self.loader))\n")
        ]
        r.replace("train", body, "        pass\n")
        r.expect("placeholder", "train", "def train_epoch")
    elif v == 1:
        r.replace(
            "model", "        return self.net(x)\n", '        raise NotImplementedError("forward pass")\n'
        )
        r.expect("placeholder", "model", "def forward")
    else:
        r.replace(
            "evaluate", "    model.eval()\n", "    model.eval()  # TODO: also report F1 as the paper does\n"
        )
        r.expect("placeholder", "evaluate", "# TODO")


def _user_data(r: Repo, v: int) -> None:
    if v == 0:
        r.insert_after("evaluate", "    model.eval()\n", '    extra = torch.load("data/test_set.pt")\n')
        r.expect("user_data", "evaluate", "data/test_set.pt")
        r.data.append("data/test_set.pt")
    elif v == 1:
        r.config = r.config.replace("  batch_size: 32\n", "  batch_size: 32\n  stats_path: data/stats.csv\n")
        r.insert_after(
            "data",
            "        x, y = self.tensors()\n",
            '        stats = pd.read_csv(CONFIG["data"]["stats_path"])\n',
        )
        r.insert_after(
            "data", "from torch.utils.data import DataLoader, TensorDataset\n", "\nCONFIG: dict = {}\n"
        )
        r.expect("user_data", "data", "stats_path")
        r.data.append("data/stats.csv")
    else:
        r.replace("utils", "import os\n", "import os\n\nVOCAB_DIR = 'data/vocab'\n")
        r.insert_after("utils", "    return path\n", "\n\ndef _read_vocab() -> list[str]:\n"
                       "    with open(os.path.join(VOCAB_DIR, 'words.txt')) as f:\n"
                       "        return f.read().split()\n")  # fmt: skip
        r.expect("user_data", "utils", "os.path.join(VOCAB_DIR")
        r.data.append("data/vocab/words.txt")


def _unwired(r: Repo, v: int) -> None:
    # What the paper needs but no command runs: a loader nothing calls, a class only a test uses.
    if v == 0:
        r.insert_after("model", "    return MLP(in_dim, m[\"hidden_dim\"], num_layers=m[\"num_layers\"], dropout=m[\"dropout\"])\n",
                       "\n\ndef load_pretrained(model: MLP, path: str) -> MLP:\n"
                       "    model.load_state_dict(torch.load(path))\n    return model\n")  # fmt: skip
    elif v == 1:
        r.insert_after("model", "        return self.net(x)\n",
                       "\n\nclass ResidualMLP(MLP):\n    def forward(self, x: torch.Tensor) -> torch.Tensor:\n"
                       "        return super().forward(x) + x[:, :2]\n")  # fmt: skip
        r.files["tests/test_model.py"] = (
            f"from {'src.' if r.lib_dir else ''}model import ResidualMLP\n\n\n"
            "def test_residual():\n    assert ResidualMLP(4, 8)\n"
        )
    else:
        r.insert_after("utils", "    return path\n", "\n\ndef ema(values: list[float], decay: float) -> float:\n"
                       "    out = values[0]\n    for v in values[1:]:\n        out = decay * out + (1 - decay) * v\n"
                       "    return out\n")  # fmt: skip
    r.expect("unwired", "main", None)


def _circular(r: Repo, v: int) -> None:
    if v == 0:  # utils -> train -> utils; the cycle is reported at the first file in path order
        r.insert_after("utils", "import yaml\n", f"\nfrom {r.imp}train import Trainer\n")
        r.expect("circular_import", "train", "import ensure_dir")
    elif v == 1:
        r.insert_after("model", "from torch import nn\n", f"\nfrom {r.imp}evaluate import evaluate\n")
        r.expect("circular_import", "evaluate", "import build_model")
    else:
        r.insert_after("data", "import torch\n", f"from {r.imp}train import Trainer\n")
        r.expect("circular_import", "data", "import Trainer")


PLANTERS: dict[str, Callable[[Repo, int], None]] = {
    "syntax_error": _syntax,
    "missing_module": _missing_module,
    "undefined_name": _undefined_name,
    "missing_requirement": _missing_requirement,
    "unused_requirement": _unused_requirement,
    "missing_config_key": _missing_config_key,
    "config_number_as_string": _number_as_string,
    "signature_mismatch": _signature,
    "no_entry_point": _no_entry_point,
    "placeholder": _placeholder,
    "user_data": _user_data,
    "circular_import": _circular,
    "unwired": _unwired,
}
VARIANTS = 3


def clean_cases() -> list[Case]:
    return [Repo(packaged=False).case("clean-flat", "clean"), Repo(packaged=True).case("clean-src", "clean")]


def defect_cases() -> list[Case]:
    cases = []
    for kind, plant in PLANTERS.items():
        for v in range(VARIANTS):
            r = Repo(packaged=v == 1)
            plant(r, v)
            cases.append(r.case(f"{kind}-{v}", kind))
    return cases


def all_cases() -> list[Case]:
    return clean_cases() + defect_cases()
