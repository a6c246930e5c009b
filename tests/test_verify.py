"""Static verification: every planted defect is found at its file and line; clean repositories pass."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from papercoder_mcp.models import Architecture, FileOrder, FileSpec, FileTask, Package
from papercoder_mcp.store import Store
from papercoder_mcp.verify import import_to_distribution, normalize_distribution, verify_files, verify_run

from verify_corpus import PLANTERS, Case, clean_cases, defect_cases


def _verify(case: Case):  # noqa: ANN202 - a Verification
    return verify_files(
        case.files,
        config_yaml=case.config_yaml,
        requirements=case.requirements,
        entry_point=case.entry_point,
        must_work=case.must_work,
    )


def _found(case: Case) -> list[tuple[str, str, int | None]]:
    return sorted(((f.kind, f.file, f.line) for f in _verify(case).findings), key=str)


class TestPlantedDefects:
    @pytest.mark.parametrize("case", defect_cases(), ids=lambda c: c.name)
    def test_found_at_its_file_and_line_and_nothing_else(self, case: Case) -> None:
        assert _found(case) == case.expected

    def test_every_kind_is_planted(self) -> None:
        assert {c.kind for c in defect_cases()} == set(PLANTERS)

    @pytest.mark.parametrize(
        "case", [c for c in defect_cases() if c.kind == "user_data"], ids=lambda c: c.name
    )
    def test_user_data_is_listed_for_the_readme(self, case: Case) -> None:
        assert _verify(case).data_to_provide == case.data_to_provide

    def test_severities(self) -> None:
        by_kind = {f.kind: f.severity for c in defect_cases() for f in _verify(c).findings}
        assert (
            by_kind["syntax_error"] == by_kind["signature_mismatch"] == by_kind["circular_import"] == "error"
        )
        assert by_kind["unused_requirement"] == by_kind["placeholder"] == "warning"
        assert by_kind["config_number_as_string"] == "warning"
        assert by_kind["user_data"] == "info"


class TestCleanRepositories:
    @pytest.mark.parametrize("case", clean_cases(), ids=lambda c: c.name)
    def test_no_findings(self, case: Case) -> None:
        result = _verify(case)
        assert result.findings == []
        assert result.passed and result.data_to_provide == []
        assert result.files_checked >= 6 and result.lines_checked > 150


def _repo(files: dict[str, str], *, requirements: list[str] | None = None, config: str | None = None):  # noqa: ANN202
    result = verify_files(
        {"main.py": 'if __name__ == "__main__":\n    print()\n', **files},
        config_yaml=config,
        requirements=requirements or [],
        entry_point="main.py",
    )
    # These snippets are called by no entry point on purpose; TestUnwired checks what that finds.
    result.findings = [f for f in result.findings if f.kind != "unwired"]
    return result


def _unwired(files: dict[str, str]) -> list[str]:
    main = files.pop("main.py", 'if __name__ == "__main__":\n    print()\n')
    result = verify_files(
        {"main.py": main, **files}, config_yaml=None, requirements=[], entry_point="main.py"
    )
    return [
        f.message.split(" defines ", 1)[1].split(",", 1)[0] for f in result.findings if f.kind == "unwired"
    ]


class TestTheTestRunner:
    def test_pytest_is_needed_by_tests_that_never_import_it(self) -> None:
        test = "from m import f\n\n\ndef test_f():\n    assert f() == 1\n"
        files = {"m.py": "def f():\n    return 1\n", "tests/test_m.py": test}
        assert _repo(files, requirements=["pytest>=8", "pytest-timeout"]).findings == []
        # without tests, nothing needs it
        found = _repo({"m.py": "x = 1\n"}, requirements=["pytest>=8"]).findings
        assert [f.kind for f in found] == ["unused_requirement"]


class TestUnwired:
    def test_defined_and_only_tested_is_named_with_where(self) -> None:
        main = "from model import build\n\nif __name__ == '__main__':\n    build()\n"
        model = "def build():\n    return 1\n\n\ndef load_pretrained(m):\n    return m\n\n\nclass Head:\n    pass\n"
        test = "from model import Head\n\n\ndef test_head():\n    assert Head()\n"
        result = verify_files(
            {"main.py": main, "model.py": model, "tests/test_model.py": test},
            config_yaml=None, requirements=[], entry_point="main.py",
        )  # fmt: skip
        found = [f for f in result.findings if f.kind == "unwired"]
        assert [(f.file, f.severity) for f in found] == [("main.py", "warning")] * 2
        assert "model.py:5 defines the function load_pretrained, but nothing uses it" in found[0].message
        assert "model.py:9 defines the class Head, but only the tests use it" in found[1].message
        assert result.passed

    def test_uses_that_count(self) -> None:
        lib = (
            "def a():\n    return 1\n\ndef b():\n    return a()\n\ndef c():\n    return 2\n\n"
            "def d():\n    return 3\n\ndef e():\n    return 4\n\nclass Cfg:\n    pass\n\n"
            "def f(x: 'Cfg') -> None:\n    return None\n"
        )
        main = (
            "import lib\nfrom lib import c\n\nMETHODS = {'d': lib.d, 'e': 'e'}\n\n"
            "if __name__ == '__main__':\n    print(lib.b(), lib.f)\n"
        )
        # b calls a, c is imported, d is an attribute, e a registry string, Cfg an annotation
        assert _unwired({"main.py": main, "lib.py": lib}) == []

    def test_not_flagged(self) -> None:
        lib = (
            "import typer\napp = typer.Typer()\n\n@app.command()\ndef run():\n    pass\n\n"
            "def _helper():\n    return 1\n\nclass __Meta:\n    pass\n"
        )
        script = "def main():\n    return 1\n\n\nif __name__ == '__main__':\n    main()\n"
        entry = "def unused_in_entry():\n    return 1\n\nif __name__ == '__main__':\n    print()\n"
        files = {
            "main.py": entry,
            "lib.py": lib,
            "scripts/prepare.py": script,
            "setup.py": "def x():\n  pass\n",
        }
        assert _unwired(files) == []

    def test_a_demo_block_in_an_imported_module_does_not_wire_anything(self) -> None:
        lib = "def build():\n    return 1\n\ndef replace_head(m):\n    return m\n\nif __name__ == '__main__':\n    replace_head(build())\n"
        main = "from lib import build\n\nif __name__ == '__main__':\n    build()\n"
        assert _unwired({"main.py": main, "lib.py": lib}) == ["the function replace_head"]

    def test_a_computed_lookup_on_our_module_silences_the_check(self) -> None:
        lib = "def ant():\n    return 1\n\ndef ewc():\n    return 2\n"
        dispatch = (
            "import lib\n\nif __name__ == '__main__':\n    import sys\n    getattr(lib, sys.argv[1])()\n"
        )
        assert _unwired({"main.py": dispatch, "lib.py": lib}) == []
        # but getattr on anything else (args, a config, torch.optim) is everywhere and says nothing
        other = "import sys\nimport lib\n\nif __name__ == '__main__':\n    getattr(sys, sys.argv[1])\n    vars(sys)\n"
        assert _unwired({"main.py": other, "lib.py": lib}) == ["the function ant", "the function ewc"]


class TestNoFalseAlarms:
    def test_guarded_and_type_checking_imports_need_no_requirement(self) -> None:
        code = (
            "from typing import TYPE_CHECKING\n"
            "try:\n    import wandb\nexcept ImportError:\n    wandb = None\n"
            "if TYPE_CHECKING:\n    import pandas\n"
        )
        assert _repo({"m.py": code}).findings == []

    def test_abstract_and_subclassed_base_methods_are_not_placeholders(self) -> None:
        code = (
            "import abc\n\n"
            "class Base(abc.ABC):\n    @abc.abstractmethod\n    def run(self):\n        ...\n\n"
            "class Hook:\n    def on_end(self):\n        pass\n\n    def step(self):\n        raise NotImplementedError\n\n"
            "class Print(Hook):\n    def on_end(self):\n        print('end')\n\n"
            "class Err(Exception):\n    pass\n\n"
            "def pick(name):\n    if name == 'adam':\n        return 1\n    raise NotImplementedError(name)\n"
        )
        assert _repo({"m.py": code}).findings == []

    def test_config_get_with_membership_test_and_written_keys(self) -> None:
        code = (
            "import yaml\n\n"
            "def run(path):\n    config = yaml.safe_load(open(path))\n"
            "    config['device'] = 'cpu'\n    print(config['device'])\n"
            "    if 'extra' in config:\n        print(config['extra'])\n"
            "    section = config['train']\n    print(section['lr'], config.get('train', {}).get('lr'))\n"
        )
        assert _repo({"m.py": code}, requirements=["pyyaml"], config="train:\n  lr: 0.1\n").findings == []

    def test_a_test_that_loads_a_yaml_of_its_own_is_not_reading_config_yaml(self) -> None:
        # Seen: a test wrote {"a": 1, "d": ...} to tmp_path / "c.yaml" and loaded it back with the
        # repository's load_config; its keys were reported as missing from config.yaml.
        lib = "import yaml\n\ndef load_config(path='config.yaml'):\n    return yaml.safe_load(open(path))\n"
        test = (
            "import yaml\nfrom lib import load_config\n\n"
            "def test_own(tmp_path):\n    path = tmp_path / 'c.yaml'\n"
            "    path.write_text(yaml.safe_dump({'a': 1}))\n    cfg = load_config(path)\n"
            "    assert cfg['a'] == 1\n\n"
            "def test_inline():\n    cfg = yaml.safe_load('d: 2\\n')\n    assert cfg['d'] == 2\n\n"
            "def test_other_literal():\n    cfg = load_config('configs/smoke.yaml')\n    assert cfg['e']\n\n"
            "def test_with(tmp_path):\n    with open(tmp_path / 'x.yaml') as f:\n"
            "        cfg = yaml.safe_load(f)\n    assert cfg['f']\n\n"
            "def test_real():\n    cfg = load_config('config.yaml')\n    assert cfg['missing']\n"
        )
        found = _repo(
            {"lib.py": lib, "tests/test_lib.py": test}, requirements=["pyyaml", "pytest"], config="lr: 0.1\n"
        ).findings
        # The real config.yaml is still checked, in tests too.
        assert [(f.kind, f.file, f.line) for f in found] == [("missing_config_key", "tests/test_lib.py", 25)]

    def test_config_section_passed_to_a_function_resolves_below_the_root(self) -> None:
        code = "def build(cfg):\n    return cfg['hidden_dim']\n"
        assert _repo({"m.py": code}, config="model:\n  hidden_dim: 4\n").findings == []

    def test_get_with_default_is_a_warning(self) -> None:
        code = "import yaml\nconfig = yaml.safe_load(open('config.yaml'))\nx = config.get('seed', 0)\n"
        found = _repo({"m.py": code, "config.yaml": ""}, requirements=["pyyaml"], config="lr: 0.1\n").findings
        assert [(f.kind, f.severity, f.line) for f in found] == [("missing_config_key", "warning", 3)]

    def test_calls_with_star_args_and_shadowed_names_are_not_judged(self) -> None:
        lib = "def f(a, b):\n    return a + b\n"
        user = "from lib import f\n\nargs = (1, 2)\nf(*args)\n\ndef g(f):\n    return f(1, 2, 3)\n"
        assert _repo({"lib.py": lib, "u.py": user}).findings == []

    def test_distribution_names_match_after_normalisation(self) -> None:
        code = "import sklearn\nimport yaml\nimport cv2\nfrom PIL import Image\nimport google.protobuf\n"
        reqs = ["Scikit_Learn>=1.3", "PyYAML", "opencv-python-headless", "Pillow", "protobuf"]
        assert _repo({"m.py": code}, requirements=reqs).findings == []


class TestSignatures:
    def test_class_constructor_and_dataclass(self) -> None:
        lib = (
            "from dataclasses import dataclass\n\n"
            "class Net:\n    def __init__(self, dim, *, depth=2):\n        self.dim = dim\n\n"
            "@dataclass\nclass Cfg:\n    lr: float\n    steps: int = 10\n"
        )
        user = (
            "import lib\n\nlib.Net(4, depth=3)\nlib.Net(4, 5)\nlib.Cfg(lr=0.1, steps=3)\nlib.Cfg(steps=1)\n"
        )
        found = _repo({"lib.py": lib, "user.py": user}).findings
        assert [(f.kind, f.file, f.line) for f in found] == [
            ("signature_mismatch", "user.py", 4),
            ("signature_mismatch", "user.py", 6),
        ]


class TestImportToDistribution:
    @pytest.mark.parametrize(
        ("name", "dist"),
        [
            ("sklearn", "scikit-learn"),
            ("yaml", "pyyaml"),
            ("cv2", "opencv-python"),
            ("PIL", "pillow"),
            ("skimage", "scikit-image"),
            ("bs4", "beautifulsoup4"),
            ("dateutil", "python-dateutil"),
            ("attr", "attrs"),
            ("Crypto", "pycryptodome"),
            ("google.protobuf", "protobuf"),
            ("hydra", "hydra-core"),
            ("pytorch_lightning", "pytorch-lightning"),
            ("torch", "torch"),
            ("some_unknown_pkg", "some_unknown_pkg"),
        ],
    )
    def test_table(self, name: str, dist: str) -> None:
        assert import_to_distribution(name) == dist

    def test_pep503(self) -> None:
        assert normalize_distribution("Ruamel.YAML__clib") == "ruamel-yaml-clib"


def _store_run(tmp_path: Path, files: dict[str, str], config: str) -> tuple[Store, str]:
    store = Store(tmp_path / "verify.db")
    run = store.create_run(title="t")
    paths = list(files) + ["tests/test_missing.py"]  # designed, never generated
    arch = Architecture(
        implementation_approach="x",
        files=[FileSpec(path=p, purpose="p") for p in paths],
        entry_point="main.py",
        smoke_command="python main.py",  # a bare run; the code has no command line to check
        class_diagram="classDiagram\n  class A",
        sequence_diagram="sequenceDiagram\n  A->>B: x",
    )
    order = FileOrder(
        required_packages=[Package(name="pyyaml")],
        files=[
            FileTask(
                path=p,
                purpose="p",
                logic=f"logic of {p}: run does work",
                depends_on=["main.py"] if p.startswith("tests/") else [],
            )
            for p in paths
        ],
        order=paths,
    )
    store.put_artifact(run.id, "architecture", arch.model_dump_json(), format="json")
    store.put_artifact(run.id, "file_order", json.dumps(order.model_dump()), format="json")
    store.put_artifact(run.id, "config", config, format="yaml")
    for path, content in files.items():
        store.put_artifact(run.id, "code", content, key=path, format="python")
    return store, run.id


class TestVerifyRun:
    def test_reads_the_store_and_reports_missing_files(self, tmp_path: Path) -> None:
        main = (
            "import yaml\n\n\ndef run():\n    cfg = yaml.safe_load(open('config.yaml'))\n    return cfg['lr']\n\n\n"
            'if __name__ == "__main__":\n    run()\n'
        )
        store, run_id = _store_run(tmp_path, {"main.py": main}, "lr: 1e-5\nepochs: 1\n")
        before = len(store.list_artifacts(run_id))
        result = verify_run(store, run_id)
        assert [(f.kind, f.file, f.line) for f in result.findings] == [
            ("missing_module", "tests/test_missing.py", None),
            ("config_number_as_string", "config.yaml", 1),
        ]
        assert len(store.list_artifacts(run_id)) == before  # verify_run stores nothing


class TestUserInputs:
    """What the exported README tells the user to provide: real inputs, never modes or the code's own outputs."""

    @staticmethod
    def inputs(code: str) -> list[tuple[str, str]]:
        result = verify_files({"main.py": code}, config_yaml=None, requirements=[], entry_point="main.py")
        return [(i.name, i.kind) for i in result.inputs]

    def test_open_modes_are_not_files(self) -> None:
        code = (
            "from pathlib import Path\n\n\ndef run(p: Path, q: Path) -> None:\n"
            '    with p.open("r") as f:\n        f.read()\n'
            '    with q.open(mode="w") as f:\n        f.write("x")\n'
            '    with open(q, "rb") as f:\n        f.read()\n'
        )
        assert self.inputs(code) == []

    def test_files_the_code_writes_itself_are_not_inputs(self) -> None:
        code = (
            "import torch\nfrom pathlib import Path\n\nOUT = Path('runs/metrics.json')\n\n\ndef run() -> None:\n"
            '    OUT.open("w").write("{}")\n    print(OUT.open().read())\n'
            '    torch.save({}, "checkpoints/last.pt")\n    torch.load("checkpoints/last.pt")\n'
            '    with open("logs/train.log", "a") as f:\n        f.write("x")\n'
            '    print(open("logs/train.log").read())\n'
        )
        assert self.inputs(code) == []

    def test_datasets_checkpoints_and_keys_are_inputs(self) -> None:
        code = (
            "import os\nimport pandas as pd\nimport torch\n\n\ndef run() -> None:\n"
            '    df = pd.read_csv("data/jigsaw/train.csv")\n'
            '    enc = torch.load("pretrained/encoder.pt")\n'
            '    key = os.environ["OPENAI_API_KEY"]\n'
            '    token = os.getenv("HF_TOKEN")\n'
            '    optional = os.environ.get("WANDB_API_KEY", "")\n'
            '    devices = os.environ.get("CUDA_VISIBLE_DEVICES")\n'
        )
        assert self.inputs(code) == [
            ("data/jigsaw/train.csv", "dataset"),
            ("pretrained/encoder.pt", "checkpoint"),
            ("OPENAI_API_KEY", "environment variable"),
            ("HF_TOKEN", "environment variable"),
        ]


class TestSmokeMode:
    MAIN = (
        "import argparse\n\n\ndef main() -> None:\n    parser = argparse.ArgumentParser()\n"
        '    sub = parser.add_subparsers(dest="command", required=True)\n    sub.add_parser("train")\n'
        '    parser.parse_args()\n\n\nif __name__ == "__main__":\n    main()\n'
    )

    def test_a_smoke_command_the_entry_point_does_not_define_is_an_error_on_it(self) -> None:
        result = verify_files(
            {"main.py": self.MAIN},
            config_yaml=None,
            requirements=[],
            entry_point="main.py",
            smoke_command="python main.py smoke",
        )
        [finding] = [f for f in result.findings if f.kind == "no_smoke_mode"]
        assert finding.file == "main.py" and finding.severity == "error"
        assert "`python main.py smoke` would not run: main.py has no subcommand 'smoke' (it has train)" in (
            finding.message
        )

    def test_a_defined_smoke_mode_passes(self) -> None:
        main = self.MAIN.replace(
            'sub.add_parser("train")', 'sub.add_parser("train")\n    sub.add_parser("smoke")'
        )
        result = verify_files(
            {"main.py": main},
            config_yaml=None,
            requirements=[],
            entry_point="main.py",
            smoke_command="python main.py smoke",
        )
        assert not [f for f in result.findings if f.kind == "no_smoke_mode"]

    @pytest.mark.anyio
    async def test_the_pipeline_repairs_a_missing_smoke_mode(self, tmp_path: Path) -> None:
        from papercoder_mcp.pipeline.orchestrator import run_pipeline

        from fake_model import FakeModel, FakeSampler
        from pipeline_helpers import new_run

        sampler = FakeSampler(FakeModel(smoke_mode=False))  # main.py forgets its smoke mode; a repair adds it
        ctx = new_run(tmp_path, sampler)
        result = await run_pipeline(ctx.store, ctx.run_id, sampler)
        assert result.status == "verified", result.message
        repairs = [r for r in sampler.history if r.stage == "repair_file"]
        assert [r.key for r in repairs] == ["main.py"]
        assert (
            "[no_smoke_mode, error] the smoke command `python main.py smoke` would not run"
            in repairs[0].prompt
        )
