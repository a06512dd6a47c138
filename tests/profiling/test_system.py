import pytest

from edgeqa.profiling.doctor import amx_check
from edgeqa.profiling.system import llama_cpp_features, report_lines, system_report


def test_features_are_the_ones_switched_on():
    info = "CPU : SSE3 = 1 | AVX512 = 1 | AMX_INT8 = 0 | LLAMAFILE = 1 | "
    assert llama_cpp_features(info) == ["SSE3", "AVX512", "LLAMAFILE"]


@pytest.mark.slow
def test_report_describes_this_machine_and_build():
    report = system_report()
    assert report["usable_cpus"] >= 1
    assert report["ram_gib"] > 0
    assert report["versions"]["llama_cpp_python"]
    assert report["llama_cpp_system_info"]
    assert any(line.startswith("llama.cpp features:") for line in report_lines(report))


def test_amx_build_that_crashes_is_explained():
    check = amx_check({"amx_tile"}, ["AVX512", "AMX_INT8"], inference_ok=False)
    assert not check.ok
    assert "20824" in check.message and "install.sh" in check.message


def test_amx_build_that_works_and_build_without_amx_pass():
    assert amx_check({"amx_tile"}, ["AMX_INT8"], inference_ok=True).ok
    assert amx_check(set(), ["AVX2"], inference_ok=True).ok
