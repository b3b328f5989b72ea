"""Build manifest: input hashes, build key, up-to-date check and the files list."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from edgeforge.report.manifest import (
    CHECKSUMS_NAME,
    MANIFEST_NAME,
    build_key,
    build_manifest,
    check_up_to_date,
    hash_input,
    sha256_file,
    tool_versions,
    write_build_manifest,
)
from edgeforge.errors import InputError, OutputError

TOOLS = {"python": "3.11.2", "edgeforge": "0.1.0", "tensorflow": "2.21.0", "numpy": "2.4.6"}


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "project"
    (root / "saved_model" / "variables").mkdir(parents=True)
    (root / "saved_model" / "saved_model.pb").write_bytes(b"graph")
    (root / "saved_model" / "variables" / "variables.index").write_bytes(b"index")
    (root / "target.yaml").write_text("name: mcu\n")
    (root / "recipe.yaml").write_text("name: ptq-int8\n")
    (root / "calibration.npz").write_bytes(b"calibration samples")
    return root


def make_manifest(project, **overrides):
    arguments = {
        "model": project / "saved_model",
        "target_profile": project / "target.yaml",
        "recipe": project / "recipe.yaml",
        "data": {"calibration": project / "calibration.npz"},
        "seed": 0,
        "tools": TOOLS,
    }
    arguments.update(overrides)
    return build_manifest(**arguments)


def write_outputs(out_dir):
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "model.tflite").write_bytes(b"TFL3 bytes")
    (out_dir / "firmware").mkdir(exist_ok=True)
    (out_dir / "firmware" / "model_data.h").write_text("/* header */\n")
    return ["model.tflite", "firmware/model_data.h"]


def test_tree_hash_tracks_content_and_names(project):
    before = hash_input(project / "saved_model", role="model")
    (project / "saved_model" / "variables" / "variables.index").write_bytes(b"INDEX")
    edited = hash_input(project / "saved_model", role="model")
    (project / "saved_model" / "variables" / "variables.index").rename(project / "saved_model" / "variables" / "v.index")
    renamed = hash_input(project / "saved_model", role="model")

    assert before["kind"] == "directory"
    assert before["files"] == 2
    assert edited["sha256"] != before["sha256"]
    assert renamed["sha256"] != edited["sha256"]


def test_file_hash_matches_sha256sum(project):
    entry = hash_input(project / "target.yaml", role="target profile")
    expected = subprocess.run(["sha256sum", str(project / "target.yaml")], capture_output=True, text=True, check=True)

    assert entry["sha256"] == expected.stdout.split()[0]
    assert entry["kind"] == "file"


def test_build_key_ignores_paths(project, tmp_path):
    moved = tmp_path / "moved"
    shutil.copytree(project, moved)

    assert build_key(make_manifest(project)) == build_key(
        make_manifest(moved, model=moved / "saved_model", target_profile=moved / "target.yaml")
    )


@pytest.mark.parametrize(
    ("change", "expected_reason"),
    [
        ({"seed": 1}, "seed 0 -> 1"),
        ({"tools": {**TOOLS, "tensorflow": "2.22.0"}}, "tensorflow 2.21.0 -> 2.22.0"),
        ({"options": {"max_accuracy_drop": 0.5}}, "build options"),
        ({"recipe": None}, "recipe"),
    ],
)
def test_changed_input_forces_rebuild(project, tmp_path, change, expected_reason):
    out_dir = tmp_path / "build"
    write_build_manifest(out_dir, make_manifest(project), outputs=write_outputs(out_dir))
    status = check_up_to_date(out_dir, make_manifest(project, **change))

    assert not status.up_to_date
    assert expected_reason in status.reason


def test_edited_model_forces_rebuild(project, tmp_path):
    out_dir = tmp_path / "build"
    write_build_manifest(out_dir, make_manifest(project), outputs=write_outputs(out_dir))
    (project / "saved_model" / "saved_model.pb").write_bytes(b"new graph")
    status = check_up_to_date(out_dir, make_manifest(project))

    assert not status.up_to_date
    assert status.reason == "inputs changed since the previous build: model"


def test_unchanged_build_is_up_to_date(project, tmp_path):
    out_dir = tmp_path / "build"
    write_build_manifest(out_dir, make_manifest(project), outputs=write_outputs(out_dir))
    status = check_up_to_date(out_dir, make_manifest(project))

    assert status.up_to_date
    assert "all 2 output files are unchanged" in status.reason


def test_missing_or_edited_output_forces_rebuild(project, tmp_path):
    out_dir = tmp_path / "build"
    write_build_manifest(out_dir, make_manifest(project), outputs=write_outputs(out_dir))
    (out_dir / "model.tflite").write_bytes(b"TFL3 other")
    edited = check_up_to_date(out_dir, make_manifest(project))
    (out_dir / "firmware" / "model_data.h").unlink()
    missing = check_up_to_date(out_dir, make_manifest(project))

    assert not edited.up_to_date
    assert "output model.tflite changed" in edited.reason
    assert not missing.up_to_date
    assert "output firmware/model_data.h of the previous build is missing" in missing.reason


def test_no_previous_build(project, tmp_path):
    status = check_up_to_date(tmp_path / "empty", make_manifest(project))

    assert not status.up_to_date
    assert status.reason.startswith("no previous build")


def test_files_manifest_and_checksums(project, tmp_path):
    out_dir = tmp_path / "build"
    manifest_path = write_build_manifest(out_dir, make_manifest(project), outputs=write_outputs(out_dir))
    document = json.loads(manifest_path.read_text())
    check = subprocess.run(["sha256sum", "-c", CHECKSUMS_NAME], cwd=out_dir, capture_output=True, text=True)

    assert manifest_path.name == MANIFEST_NAME
    assert [entry["path"] for entry in document["files"]] == ["firmware/model_data.h", "model.tflite"]
    assert document["files"][1] == {"path": "model.tflite", "bytes": 10, "sha256": sha256_file(out_dir / "model.tflite")}
    assert document["key"] == build_key(make_manifest(project))
    assert document["inputs"]["data"]["calibration"]["kind"] == "file"
    assert check.returncode == 0, check.stdout + check.stderr


def test_manifest_rejects_missing_output(project, tmp_path):
    with pytest.raises(OutputError, match=r"output file .*absent.bin is missing"):
        write_build_manifest(tmp_path, make_manifest(project), outputs=["absent.bin"])


def test_manifest_rejects_output_outside_folder(project, tmp_path):
    (tmp_path / "elsewhere.bin").write_bytes(b"x")
    with pytest.raises(OutputError, match=r"is outside the build folder"):
        write_build_manifest(tmp_path / "build", make_manifest(project), outputs=[tmp_path / "elsewhere.bin"])


def test_manifest_rejects_missing_input(project):
    with pytest.raises(InputError, match=r"target profile not found: .*nope.yaml"):
        make_manifest(project, target_profile=project / "nope.yaml")
    with pytest.raises(InputError, match=r"invalid seed '0': expected an integer"):
        make_manifest(project, seed="0")


def test_tool_versions_lists_installed_stack():
    versions = tool_versions()

    assert versions["numpy"] is not None
    assert versions["tensorflow"].startswith("2.")
    assert set(versions) >= {"python", "edgeforge", "tensorflow", "ai-edge-litert", "openvino", "nncf", "numpy"}
