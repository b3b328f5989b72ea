"""Tests of the target registry: the shipped profiles, user folders, `extends` and schema errors."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml

from edgeforge.errors import EXIT_INPUT, EXIT_USAGE, ProfileError, UsageError
from edgeforge.targets import list_targets, load_target
from edgeforge.targets.registry import ENV_VAR, SHIPPED_DIR
from edgeforge.targets.schema import PRECISIONS

RECIPES_DIR = SHIPPED_DIR.parent / "recipes"

# The targets the project promises to ship.
REQUIRED_TARGETS = [
    "arm-cortex-a53",
    "arm-cortex-a72",
    "arm-cortex-a76",
    "intel-cpu",
    "intel-igpu",
    "intel-npu",
    "coral-edgetpu",
    "cortex-m7",
    "host",
]

SHIPPED_NAMES = sorted(path.stem for path in SHIPPED_DIR.glob("*.yaml"))

# Which artifact format each runtime loads.
ARTIFACT_FOR_RUNTIME = {"litert": "tflite", "openvino": "openvino-ir", "tflite-micro": "c-array"}


def _shipped_yaml(name: str) -> dict:
    return yaml.safe_load((SHIPPED_DIR / f"{name}.yaml").read_text(encoding="utf-8"))


# Subsets chosen from the raw files at collection time, so each case below runs only where it applies.
FULL_INTEGER_NAMES = [n for n in SHIPPED_NAMES if _shipped_yaml(n)["quantization"]["full_integer"]]
ALLOWLIST_NAMES = [n for n in SHIPPED_NAMES if _shipped_yaml(n)["operators"]["policy"] == "allowlist"]


@pytest.fixture(autouse=True)
def _no_user_target_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep a developer's own EDGEFORGE_TARGETS_PATH out of every test."""
    monkeypatch.delenv(ENV_VAR, raising=False)


def _write_profile(folder: Path, file_stem: str, data: dict) -> Path:
    path = folder / f"{file_stem}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _a72_copy(name: str) -> dict:
    """Return the shipped arm-cortex-a72 profile renamed, as a base for user profiles."""
    data = _shipped_yaml("arm-cortex-a72")
    data["name"] = name
    return data


def _tflite_builtin_names() -> set[str]:
    from ai_edge_litert.schema_py_generated import BuiltinOperator

    return {name for name in vars(BuiltinOperator) if name.isupper()}


# Shipped profiles


def test_required_targets_are_shipped() -> None:
    missing = sorted(set(REQUIRED_TARGETS) - set(SHIPPED_NAMES))
    assert missing == []


@pytest.mark.parametrize("name", SHIPPED_NAMES)
def test_shipped_profile_loads(name: str) -> None:
    profile = load_target(name)

    assert profile.name == name
    assert profile.path == SHIPPED_DIR / f"{name}.yaml"
    assert profile.preferred_precision in profile.supported_precisions
    assert profile.threads >= 1


@pytest.mark.parametrize("name", SHIPPED_NAMES)
def test_shipped_runtime_matches_artifact(name: str) -> None:
    profile = load_target(name)

    assert profile.artifact_format == ARTIFACT_FOR_RUNTIME[profile.runtime]
    if profile.runtime == "openvino":
        assert profile.data["openvino_device"] in ("CPU", "GPU", "NPU")
    else:
        assert "openvino_device" not in profile.data


@pytest.mark.parametrize("name", SHIPPED_NAMES)
def test_shipped_default_recipe_fits(name: str) -> None:
    profile = load_target(name)
    recipe_path = RECIPES_DIR / f"{profile.default_recipe}.yaml"

    assert recipe_path.is_file(), f"{name}: default_recipe {profile.default_recipe!r} has no file"
    recipe = yaml.safe_load(recipe_path.read_text(encoding="utf-8"))
    assert recipe["name"] == profile.default_recipe
    assert recipe["quantize"]["precision"] == profile.preferred_precision


@pytest.mark.parametrize("path", sorted(RECIPES_DIR.glob("*.yaml")), ids=lambda path: path.stem)
def test_recipe_files_are_wellformed(path: Path) -> None:
    recipe = yaml.safe_load(path.read_text(encoding="utf-8"))

    assert recipe["name"] == path.stem
    assert recipe["description"].strip()
    assert isinstance(recipe["passes"], list)
    assert recipe["quantize"]["precision"] in PRECISIONS


@pytest.mark.parametrize("name", FULL_INTEGER_NAMES)
def test_shipped_full_integer_is_int8_only(name: str) -> None:
    profile = load_target(name)

    assert profile.supported_precisions == ["int8"]
    assert profile.io_dtype in ("int8", "uint8")


@pytest.mark.parametrize("name", ALLOWLIST_NAMES)
def test_shipped_allowlist_uses_tflite_names(name: str) -> None:
    operators = load_target(name).data["operators"]

    unknown = sorted(set(operators["allowed"]) - _tflite_builtin_names())
    assert operators["allowed"], f"{name}: allowlist is empty"
    assert unknown == []


@pytest.mark.parametrize("name", SHIPPED_NAMES)
def test_shipped_sources_are_stated(name: str) -> None:
    profile = load_target(name)

    assert profile.data["compute"]["source"].strip()
    for benchmark in profile.data.get("published_benchmarks", []):
        assert benchmark["source"].strip()


def test_only_host_is_host() -> None:
    hosts = [profile.name for profile in list_targets() if profile.data.get("host")]

    assert hosts == ["host"]


def test_host_profile_values() -> None:
    host = load_target("host")

    assert host.runtime == "litert"
    assert host.threads == 1
    assert sorted(host.supported_precisions) == sorted(PRECISIONS)
    assert host.preferred_precision == "int8"


def test_intel_devices_and_precisions() -> None:
    expected = {
        "intel-cpu": ("CPU", "int8"),
        "intel-igpu": ("GPU", "fp16"),
        "intel-npu": ("NPU", "int8"),
    }
    for name, (device, preferred) in expected.items():
        profile = load_target(name)
        assert profile.data["openvino_device"] == device, name
        assert profile.preferred_precision == preferred, name

    npu = load_target("intel-npu")
    assert "fp16" in npu.supported_precisions
    assert npu.data["operators"]["static_shapes"] is True


def test_edgetpu_constraints() -> None:
    tpu = load_target("coral-edgetpu")

    assert tpu.supported_precisions == ["int8"]
    assert tpu.io_dtype in ("int8", "uint8")
    assert tpu.data["operators"]["static_shapes"] is True
    assert tpu.data["memory"]["sram_kib"] == 8192
    assert "DEQUANTIZE" not in tpu.data["operators"]["allowed"]


def test_cortex_m7_is_tflite_micro() -> None:
    mcu = load_target("cortex-m7")

    assert mcu.runtime == "tflite-micro"
    assert mcu.artifact_format == "c-array"
    assert mcu.supported_precisions == ["int8"]
    assert mcu.budgets["max_size_kib"] <= mcu.data["memory"]["flash_kib"]
    assert mcu.budgets["max_ram_kib"] <= mcu.data["memory"]["sram_kib"]


def test_list_targets_sorted_and_complete() -> None:
    names = [profile.name for profile in list_targets()]

    assert names == SHIPPED_NAMES


# Unknown names


def test_unknown_target_suggests_close_name() -> None:
    with pytest.raises(UsageError, match=r"unknown target 'arm-cotrex-a72'; did you mean 'arm-cortex-a72'\?"):
        load_target("arm-cotrex-a72")


def test_unknown_target_lists_known_targets() -> None:
    with pytest.raises(UsageError, match=r"Known targets: .*coral-edgetpu.*intel-npu") as info:
        load_target("no-such-board-at-all")

    assert "did you mean" not in str(info.value)
    assert info.value.exit_code == EXIT_USAGE


# Schema errors name the file, the key, what was expected and what was found


def _load_user_profile(tmp_path: Path, data: dict) -> None:
    _write_profile(tmp_path, data["name"], data)
    load_target(data["name"], extra_dirs=[tmp_path])


def test_schema_unknown_top_key_suggests(tmp_path: Path) -> None:
    data = _a72_copy("bad-board")
    data["thread"] = 2
    path = re.escape(str(tmp_path / "bad-board.yaml"))

    expected = path + r": unknown key 'thread' \(did you mean 'threads'\?\) under top level"
    with pytest.raises(ProfileError, match=expected):
        _load_user_profile(tmp_path, data)


def test_schema_unknown_nested_key_suggests(tmp_path: Path) -> None:
    data = _a72_copy("bad-board")
    data["budgets"]["max_latency"] = 10
    path = re.escape(str(tmp_path / "bad-board.yaml"))

    expected = path + r": unknown key 'max_latency' \(did you mean 'max_latency_ms'\?\) under key 'budgets'"
    with pytest.raises(ProfileError, match=expected + r"; allowed keys: max_accuracy_drop, max_latency_ms, "):
        _load_user_profile(tmp_path, data)


def test_schema_wrong_type_names_expected(tmp_path: Path) -> None:
    data = _a72_copy("bad-board")
    data["threads"] = "four"
    path = re.escape(str(tmp_path / "bad-board.yaml"))

    with pytest.raises(ProfileError, match=path + r": key 'threads': expected integer, found 'four'") as info:
        _load_user_profile(tmp_path, data)

    assert info.value.exit_code == EXIT_INPUT


def test_schema_wrong_nested_type(tmp_path: Path) -> None:
    data = _a72_copy("bad-board")
    data["budgets"]["max_latency_ms"] = "fast"
    path = re.escape(str(tmp_path / "bad-board.yaml"))

    expected = path + r": key 'budgets.max_latency_ms': expected number or null, found 'fast'"
    with pytest.raises(ProfileError, match=expected):
        _load_user_profile(tmp_path, data)


def test_schema_wrong_enum_lists_choices(tmp_path: Path) -> None:
    data = _a72_copy("bad-board")
    data["runtime"] = "tflite"
    path = re.escape(str(tmp_path / "bad-board.yaml"))

    with pytest.raises(
        ProfileError,
        match=path + r": key 'runtime': expected one of 'litert', 'openvino', 'tflite-micro', found 'tflite'",
    ):
        _load_user_profile(tmp_path, data)


def test_schema_wrong_list_item(tmp_path: Path) -> None:
    data = _a72_copy("bad-board")
    data["precisions"]["supported"] = ["fp32", "int4"]
    path = re.escape(str(tmp_path / "bad-board.yaml"))

    expected = path + r": key 'precisions.supported.1': expected one of .*'int8'.*, found 'int4'"
    with pytest.raises(ProfileError, match=expected):
        _load_user_profile(tmp_path, data)


def test_schema_missing_top_key(tmp_path: Path) -> None:
    data = _a72_copy("bad-board")
    del data["budgets"]
    path = re.escape(str(tmp_path / "bad-board.yaml"))

    with pytest.raises(ProfileError, match=path + r": missing required key 'budgets' under top level"):
        _load_user_profile(tmp_path, data)


def test_schema_missing_nested_key(tmp_path: Path) -> None:
    data = _a72_copy("bad-board")
    del data["precisions"]["preferred"]
    path = re.escape(str(tmp_path / "bad-board.yaml"))

    with pytest.raises(ProfileError, match=path + r": missing required key 'preferred' under key 'precisions'"):
        _load_user_profile(tmp_path, data)


def test_name_must_match_file(tmp_path: Path) -> None:
    path = _write_profile(tmp_path, "my-board", _a72_copy("other-name"))

    with pytest.raises(
        ProfileError,
        match=re.escape(str(path)) + r": key 'name' is 'other-name' but the file is named 'my-board'",
    ):
        load_target("my-board", extra_dirs=[tmp_path])


def test_invalid_yaml_names_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: broken\nprecisions: [fp32, int8\n", encoding="utf-8")

    with pytest.raises(ProfileError, match=re.escape(str(path)) + r": invalid YAML: "):
        load_target("broken", extra_dirs=[tmp_path])


def test_yaml_list_is_not_profile(tmp_path: Path) -> None:
    path = tmp_path / "listed.yaml"
    path.write_text("- name: listed\n", encoding="utf-8")

    with pytest.raises(ProfileError, match=re.escape(str(path)) + r": expected a mapping .* found list"):
        load_target("listed", extra_dirs=[tmp_path])


def test_broken_user_profile_breaks_listing(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text("name: [unclosed\n", encoding="utf-8")

    with pytest.raises(ProfileError, match=r"broken\.yaml: invalid YAML"):
        list_targets(extra_dirs=[tmp_path])


# User folders: the extra_dirs argument and the environment variable


def test_extra_dir_adds_profile(tmp_path: Path) -> None:
    data = _a72_copy("my-board")
    data["threads"] = 2
    path = _write_profile(tmp_path, "my-board", data)

    profile = load_target("my-board", extra_dirs=[tmp_path])

    assert profile.path == path
    assert profile.threads == 2
    names = [p.name for p in list_targets(extra_dirs=[tmp_path])]
    assert names == sorted(SHIPPED_NAMES + ["my-board"])


def test_extra_dir_replaces_shipped(tmp_path: Path) -> None:
    data = _a72_copy("arm-cortex-a72")
    data["threads"] = 1
    path = _write_profile(tmp_path, "arm-cortex-a72", data)

    profile = load_target("arm-cortex-a72", extra_dirs=[tmp_path])

    assert profile.path == path
    assert profile.threads == 1
    assert load_target("arm-cortex-a72").threads == 4


def test_env_var_adds_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write_profile(tmp_path, "env-board", _a72_copy("env-board"))
    monkeypatch.setenv(ENV_VAR, str(tmp_path))

    profile = load_target("env-board")

    assert profile.path == path
    assert "env-board" in [p.name for p in list_targets()]


def test_env_var_joins_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = tmp_path / "first"
    second = tmp_path / "second"
    first.mkdir()
    second.mkdir()
    _write_profile(first, "board-one", _a72_copy("board-one"))
    _write_profile(second, "board-two", _a72_copy("board-two"))
    monkeypatch.setenv(ENV_VAR, os.pathsep.join([str(first), str(second)]))

    assert load_target("board-one").path == first / "board-one.yaml"
    assert load_target("board-two").path == second / "board-two.yaml"


def test_extra_dir_beats_env_var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    explicit = tmp_path / "explicit"
    from_env = tmp_path / "from_env"
    explicit.mkdir()
    from_env.mkdir()
    explicit_data = _a72_copy("twin")
    explicit_data["threads"] = 3
    env_data = _a72_copy("twin")
    env_data["threads"] = 2
    _write_profile(explicit, "twin", explicit_data)
    _write_profile(from_env, "twin", env_data)
    monkeypatch.setenv(ENV_VAR, str(from_env))

    assert load_target("twin", extra_dirs=[explicit]).threads == 3
    assert load_target("twin").threads == 2


def test_missing_user_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "nowhere"

    expected = r"target folder not found: .*nowhere; check --targets-dir and EDGEFORGE_TARGETS_PATH"
    with pytest.raises(ProfileError, match=expected):
        load_target("host", extra_dirs=[missing])

    monkeypatch.setenv(ENV_VAR, str(missing))
    with pytest.raises(ProfileError, match=r"target folder not found: .*nowhere"):
        load_target("host")


# extends


def test_extends_overrides_one_budget(tmp_path: Path) -> None:
    _write_profile(
        tmp_path,
        "fast-pi4",
        {"name": "fast-pi4", "extends": "arm-cortex-a72", "budgets": {"max_latency_ms": 20}},
    )
    shipped = load_target("arm-cortex-a72")

    profile = load_target("fast-pi4", extra_dirs=[tmp_path])

    assert profile.data["extends"] == "arm-cortex-a72"
    assert profile.budgets["max_latency_ms"] == 20
    assert profile.budgets["max_accuracy_drop"] == shipped.budgets["max_accuracy_drop"]
    assert profile.budgets["max_size_kib"] == shipped.budgets["max_size_kib"]
    assert profile.runtime == shipped.runtime
    assert profile.data["compute"] == shipped.data["compute"]


def test_extends_leaves_parent_intact(tmp_path: Path) -> None:
    _write_profile(
        tmp_path,
        "fast-pi4",
        {"name": "fast-pi4", "extends": "arm-cortex-a72", "budgets": {"max_latency_ms": 20}},
    )

    load_target("fast-pi4", extra_dirs=[tmp_path])

    assert load_target("arm-cortex-a72", extra_dirs=[tmp_path]).budgets["max_latency_ms"] == 50


def test_extends_through_env_var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write_profile(tmp_path, "small-pi4", {"name": "small-pi4", "extends": "arm-cortex-a72", "threads": 1})
    monkeypatch.setenv(ENV_VAR, str(tmp_path))

    profile = load_target("small-pi4")

    assert profile.threads == 1
    assert profile.preferred_precision == "int8"


def test_extends_chain_of_user_profiles(tmp_path: Path) -> None:
    _write_profile(tmp_path, "pi4-base", {"name": "pi4-base", "extends": "arm-cortex-a72", "threads": 2})
    _write_profile(
        tmp_path,
        "pi4-tight",
        {"name": "pi4-tight", "extends": "pi4-base", "budgets": {"max_size_kib": 512}},
    )

    profile = load_target("pi4-tight", extra_dirs=[tmp_path])

    assert profile.threads == 2
    assert profile.budgets["max_size_kib"] == 512
    assert profile.budgets["max_latency_ms"] == 50
    assert profile.data["extends"] == "pi4-base"


def test_extends_replaces_lists(tmp_path: Path) -> None:
    _write_profile(
        tmp_path,
        "tpu-two-ops",
        {"name": "tpu-two-ops", "extends": "coral-edgetpu", "operators": {"allowed": ["CONV_2D", "ADD"]}},
    )

    profile = load_target("tpu-two-ops", extra_dirs=[tmp_path])

    assert profile.data["operators"]["allowed"] == ["CONV_2D", "ADD"]
    assert profile.data["operators"]["policy"] == "allowlist"


def test_extends_schema_error_names_child(tmp_path: Path) -> None:
    path = _write_profile(
        tmp_path,
        "fast-pi4",
        {"name": "fast-pi4", "extends": "arm-cortex-a72", "budgets": {"max_latency_ms": -5}},
    )

    expected = re.escape(str(path)) + r": key 'budgets.max_latency_ms': expected a number >= 0, found -5"
    with pytest.raises(ProfileError, match=expected):
        load_target("fast-pi4", extra_dirs=[tmp_path])


def test_extends_loop(tmp_path: Path) -> None:
    path_a = _write_profile(tmp_path, "loop-a", {"name": "loop-a", "extends": "loop-b"})
    _write_profile(tmp_path, "loop-b", {"name": "loop-b", "extends": "loop-a"})

    expected = re.escape(str(path_a)) + r": 'extends' forms a loop: loop-a -> loop-b -> loop-a"
    with pytest.raises(ProfileError, match=expected):
        load_target("loop-a", extra_dirs=[tmp_path])


def test_extends_itself(tmp_path: Path) -> None:
    _write_profile(tmp_path, "selfish", {"name": "selfish", "extends": "selfish"})

    with pytest.raises(ProfileError, match=r"'extends' forms a loop: selfish -> selfish"):
        load_target("selfish", extra_dirs=[tmp_path])


def test_extends_unknown_suggests(tmp_path: Path) -> None:
    path = _write_profile(tmp_path, "typo-pi", {"name": "typo-pi", "extends": "arm-cotrex-a72"})

    expected = re.escape(str(path)) + r": key 'extends': unknown target 'arm-cotrex-a72'"
    expected += r"; did you mean 'arm-cortex-a72'\?"
    with pytest.raises(ProfileError, match=expected):
        load_target("typo-pi", extra_dirs=[tmp_path])


def test_extends_wrong_type(tmp_path: Path) -> None:
    path = _write_profile(tmp_path, "list-pi", {"name": "list-pi", "extends": ["arm-cortex-a72"]})

    expected = re.escape(str(path)) + r": key 'extends': expected string, found \['arm-cortex-a72'\]"
    with pytest.raises(ProfileError, match=expected):
        load_target("list-pi", extra_dirs=[tmp_path])
