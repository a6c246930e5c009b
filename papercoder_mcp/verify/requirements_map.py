"""Which distribution provides an import name, and which names are the standard library.

The import name and the PyPI name differ often enough (`sklearn` is scikit-learn,
`yaml` is PyYAML) that comparing them by spelling gives both false alarms and
misses; this table holds the common ones for ML code. Names not in it are assumed
to be spelt the same as their distribution, which is the usual case.
"""

from __future__ import annotations

import re
import sys

# import name (top-level, or a dotted prefix) -> distributions that provide it; the first is canonical.
IMPORT_TO_DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "sklearn": ("scikit-learn", "sklearn"),
    "skimage": ("scikit-image",),
    "yaml": ("pyyaml",),
    "cv2": (
        "opencv-python",
        "opencv-python-headless",
        "opencv-contrib-python",
        "opencv-contrib-python-headless",
    ),
    "PIL": ("pillow", "pil"),
    "bs4": ("beautifulsoup4",),
    "dateutil": ("python-dateutil",),
    "attr": ("attrs",),
    "attrs": ("attrs",),
    "Crypto": ("pycryptodome", "pycrypto"),
    "google.protobuf": ("protobuf",),
    "google.cloud.storage": ("google-cloud-storage",),
    "torch": ("torch", "pytorch"),
    "torchvision": ("torchvision",),
    "torchaudio": ("torchaudio",),
    "torchtext": ("torchtext",),
    "torch_geometric": ("torch-geometric",),
    "transformers": ("transformers",),
    "datasets": ("datasets",),
    "evaluate": ("evaluate",),
    "numpy": ("numpy",),
    "pandas": ("pandas",),
    "scipy": ("scipy",),
    "matplotlib": ("matplotlib",),
    "seaborn": ("seaborn",),
    "tqdm": ("tqdm",),
    "einops": ("einops",),
    "jax": ("jax",),
    "jaxlib": ("jaxlib",),
    "flax": ("flax",),
    "optax": ("optax",),
    "haiku": ("dm-haiku",),
    "tensorflow": ("tensorflow", "tensorflow-cpu", "tensorflow-gpu", "tensorflow-macos"),
    "tensorflow_datasets": ("tensorflow-datasets",),
    "keras": ("keras",),
    "gym": ("gym",),
    "gymnasium": ("gymnasium",),
    "wandb": ("wandb",),
    "tensorboard": ("tensorboard",),
    "tensorboardX": ("tensorboardx",),
    "sentencepiece": ("sentencepiece",),
    "tokenizers": ("tokenizers",),
    "tiktoken": ("tiktoken",),
    "hydra": ("hydra-core",),
    "omegaconf": ("omegaconf",),
    "pytorch_lightning": ("pytorch-lightning", "lightning"),
    "lightning": ("lightning",),
    "timm": ("timm",),
    "accelerate": ("accelerate",),
    "peft": ("peft",),
    "trl": ("trl",),
    "safetensors": ("safetensors",),
    "huggingface_hub": ("huggingface-hub",),
    "nltk": ("nltk",),
    "spacy": ("spacy",),
    "gensim": ("gensim",),
    "networkx": ("networkx",),
    "h5py": ("h5py",),
    "tables": ("tables",),
    "sympy": ("sympy",),
    "statsmodels": ("statsmodels",),
    "xgboost": ("xgboost",),
    "lightgbm": ("lightgbm",),
    "catboost": ("catboost",),
    "faiss": ("faiss-cpu", "faiss-gpu", "faiss"),
    "fitz": ("pymupdf",),
    "Levenshtein": ("levenshtein", "python-levenshtein"),
    "sacrebleu": ("sacrebleu",),
    "rouge_score": ("rouge-score",),
    "jsonlines": ("jsonlines",),
    "requests": ("requests",),
    "dotenv": ("python-dotenv",),
    "pydantic": ("pydantic",),
    "rich": ("rich",),
    "typer": ("typer",),
    "click": ("click",),
    "imageio": ("imageio",),
    "soundfile": ("soundfile",),
    "librosa": ("librosa",),
    "mujoco": ("mujoco",),
    "pybullet": ("pybullet",),
    "ray": ("ray",),
    "optuna": ("optuna",),
    "mlflow": ("mlflow",),
    "deepspeed": ("deepspeed",),
    "bitsandbytes": ("bitsandbytes",),
    "xformers": ("xformers",),
    "open_clip": ("open-clip-torch",),
    "clip": ("openai-clip", "clip"),
    "gdown": ("gdown",),
    "wget": ("wget",),
    "magic": ("python-magic",),
    "serial": ("pyserial",),
    "zmq": ("pyzmq",),
    "jwt": ("pyjwt",),
    "git": ("gitpython",),
    "OpenGL": ("pyopengl",),
    "win32api": ("pywin32",),
    "absl": ("absl-py",),
    "ml_collections": ("ml-collections",),
    "chex": ("chex",),
    "orbax": ("orbax-checkpoint", "orbax"),
    "pyarrow": ("pyarrow",),
    "msgpack": ("msgpack",),
}

# Distributions a repository needs without importing them by that name (backends, plugins,
# runtime companions); listing them is never "unused".
IMPLICITLY_USED: frozenset[str] = frozenset(
    {
        "tensorboard",  # torch.utils.tensorboard
        "openpyxl",  # pandas.read_excel
        "pyarrow",  # pandas parquet
        "fastparquet",
        "protobuf",
        "sentencepiece",  # transformers tokenizers
        "tiktoken",
        "safetensors",
        "accelerate",  # transformers device_map
        "jaxlib",
        "setuptools",
        "pip",
        "wheel",
        "ninja",
        "cython",
        "scipy",  # scikit-learn and others import it, and papers' code often needs it at runtime
        "pillow",  # torchvision image loading
        "h5py",
    }
)

_NAME = re.compile(r"^\s*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)")
_EGG = re.compile(r"#egg=([A-Za-z0-9._-]+)")


def normalize_distribution(name: str) -> str:
    """PEP 503 normalised form: lower case, runs of `-`, `_`, `.` become one `-`."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(line: str) -> str | None:
    """The normalised distribution a requirement line names, or None for options, comments, blanks."""
    text = line.strip()
    egg = _EGG.search(text)
    if egg:
        return normalize_distribution(egg.group(1))
    text = text.split("#", 1)[0].strip()
    if not text or text.startswith("-") or "://" in text:
        return None
    m = _NAME.match(text)
    return normalize_distribution(m.group(1)) if m else None


def distributions_for(module: str) -> tuple[str, ...]:
    """Normalised distributions that may provide `module` (dotted), longest known prefix first."""
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        hit = IMPORT_TO_DISTRIBUTIONS.get(".".join(parts[:n]))
        if hit:
            return tuple(normalize_distribution(d) for d in hit)
    return (normalize_distribution(parts[0]),)


def import_to_distribution(name: str) -> str:
    """The PyPI distribution that provides import name `name` (e.g. sklearn -> scikit-learn)."""
    parts = name.split(".")
    for n in range(len(parts), 0, -1):
        hit = IMPORT_TO_DISTRIBUTIONS.get(".".join(parts[:n]))
        if hit:
            return hit[0]
    return parts[0]


def is_known_package(module: str) -> bool:
    """Whether the table knows `module` as a third-party import name."""
    parts = module.split(".")
    return any(".".join(parts[:n]) in IMPORT_TO_DISTRIBUTIONS for n in range(len(parts), 0, -1))


def is_stdlib(module: str) -> bool:
    top = module.split(".", 1)[0]
    return top in sys.stdlib_module_names or top == "__future__"
