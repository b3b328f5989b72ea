"""Build outputs for CI and firmware: JUnit, C sources, HTML, manifest, skipping and reproducibility."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ElementTree

import numpy as np
import pytest

from edgeforge.pipeline.build import compile_model


@pytest.fixture(scope="module")
def mcu_build(digits_cnn, digits_npz, tmp_path_factory):
    out = tmp_path_factory.mktemp("mcu")
    return compile_model(digits_cnn, target="cortex-m7", recipe="ptq-int8", data=digits_npz, out_dir=out, latency_runs=10)


def test_mcu_build_leaves_firmware_files(mcu_build):
    names = {path.name for path in mcu_build.out_dir.iterdir()}
    expected = {"model.tflite", "model_float.tflite", "model_data.h", "model_data.cc", "report.json",
                "report.html", "manifest.json", "SHA256SUMS"}
    assert expected <= names
    manifest = json.loads((mcu_build.out_dir / "manifest.json").read_text())
    listed = {entry["path"] for entry in manifest["files"]}
    assert expected - {"manifest.json", "SHA256SUMS"} <= listed
    budgets = {b["name"]: b for b in mcu_build.report["budgets"]}
    assert budgets["max_ram_kib"]["value"] > 0
    assert budgets["max_ram_kib"]["basis"].startswith("estimated")


def test_c_array_compiles_and_matches(mcu_build, tmp_path):
    main = tmp_path / "main.cc"
    main.write_text(
        '#include <cstdio>\n#include "model_data.h"\n'
        "int main(int argc, char** argv) {\n"
        '  FILE* out = std::fopen(argv[1], "wb");\n'
        "  std::fwrite(g_model, 1, g_model_len, out);\n"
        "  std::fclose(out);\n"
        '  std::printf("%u %d\\n", (unsigned)g_model_len, (int)G_MODEL_ARENA_BYTES);\n'
        "  return 0;\n}\n"
    )
    binary = tmp_path / "dump"
    subprocess.run(["g++", "-std=c++17", "-Wall", "-Werror", f"-I{mcu_build.out_dir}", str(main),
                    str(mcu_build.out_dir / "model_data.cc"), "-o", str(binary)], check=True)
    dumped = tmp_path / "dumped.tflite"
    run = subprocess.run([str(binary), str(dumped)], check=True, capture_output=True, text=True)
    assert dumped.read_bytes() == (mcu_build.out_dir / "model.tflite").read_bytes()
    length, arena = (int(v) for v in run.stdout.split())
    assert length == (mcu_build.out_dir / "model.tflite").stat().st_size
    assert arena == mcu_build.report["firmware"]["arena_bytes"]


def test_html_report_has_plots(mcu_build):
    html = (mcu_build.out_dir / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 3
    assert "cortex-m7" in html
    assert "robustness" in html.lower()


def test_second_build_is_skipped(digits_cnn, digits_npz, tmp_path):
    first = compile_model(digits_cnn, target="host", data=digits_npz, out_dir=tmp_path, latency_runs=10,
                          robustness=False)
    assert not first.skipped
    second = compile_model(digits_cnn, target="host", data=digits_npz, out_dir=tmp_path, latency_runs=10,
                           robustness=False)
    assert second.skipped
    assert "up to date" in second.skip_reason
    changed = compile_model(digits_cnn, target="host", data=digits_npz, out_dir=tmp_path, latency_runs=10,
                            robustness=False, budgets={"max_size_kib": 500})
    assert not changed.skipped
    (tmp_path / "model.tflite").write_bytes(b"edited")
    edited = compile_model(digits_cnn, target="host", data=digits_npz, out_dir=tmp_path, latency_runs=10,
                           robustness=False, budgets={"max_size_kib": 500})
    assert not edited.skipped


@pytest.mark.parametrize("target", ["arm-cortex-a72", "intel-igpu"])
def test_two_builds_are_byte_identical(digits_cnn, digits_npz, tmp_path, target):
    first = compile_model(digits_cnn, target=target, recipe="ptq-int8", data=digits_npz, out_dir=tmp_path / "a", validate=False)
    second = compile_model(digits_cnn, target=target, recipe="ptq-int8", data=digits_npz, out_dir=tmp_path / "b", validate=False)
    for artifact in first.report["artifacts"]:
        for path in artifact["files"]:
            name = path.rsplit("/", 1)[-1]
            assert (first.out_dir / name).read_bytes() == (second.out_dir / name).read_bytes(), name


def test_junit_lists_missed_budget(digits_cnn, digits_npz, tmp_path):
    junit = tmp_path / "budgets.xml"
    run = subprocess.run(
        [sys.executable, "-m", "edgeforge.cli", "compile", str(digits_cnn), "--target", "host", "--data",
         str(digits_npz), "--out", str(tmp_path / "out"), "--budget", "max_size_kib=2", "--junit", str(junit),
         "--latency-runs", "10", "--no-robustness"],
        capture_output=True, text=True, timeout=600,
    )
    assert run.returncode == 5, run.stderr
    suite = ElementTree.parse(junit).getroot()
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert cases["max_size_kib"].find("failure") is not None
    assert "limit 2" in cases["max_size_kib"].find("failure").get("message")
    assert cases["max_accuracy_drop"].find("failure") is None


def test_robustness_on_reference_model(tmp_path):
    from edgeforge.reference import build_reference_model, write_mnist_npz

    from edgeforge._tf import import_tf

    tf = import_tf()
    train, evaluation = write_mnist_npz(tmp_path / "data")
    tf.keras.utils.set_random_seed(0)
    model = build_reference_model(width=8)
    model.compile("adam", "sparse_categorical_crossentropy")
    with np.load(train) as archive:
        model.fit(archive["x"], archive["y"], epochs=2, batch_size=64, verbose=0)
    model.save(tmp_path / "reference.keras")
    result = compile_model(tmp_path / "reference.keras", target="arm-cortex-a72", recipe="ptq-int8", data=train, eval_data=evaluation,
                           out_dir=tmp_path / "out", latency_runs=10, budgets={"max_robustness_gap": 5.0})
    robustness = result.report["robustness"]
    names = [row["name"] for row in robustness["perturbations"]]
    assert names[0] == "clean"
    assert {"gaussian_noise", "blur", "brightness", "contrast", "occlusion"} <= set(names)
    assert robustness["samples"] == 1000
    for row in robustness["perturbations"]:
        assert 0.0 <= row["artifact_top1"] <= 1.0
    budget = next(b for b in result.report["budgets"] if b["name"] == "max_robustness_gap")
    assert budget["value"] == pytest.approx(robustness["max_gap_points"], abs=1e-3)
    assert budget["passed"] is (robustness["max_gap_points"] <= 5.0)
