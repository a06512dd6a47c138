"""`edgeqa doctor`: can this machine run edgeqa, and if not, what to do about it."""

from __future__ import annotations

from dataclasses import dataclass

DESCRIPTION = (
    "Print the hardware and llama.cpp build, run a quantized inference in a child process, and say "
    "plainly what is broken and how to fix it. Exit status 1 if edgeqa cannot run."
)
EPILOG = "example: edgeqa doctor"


@dataclass(frozen=True)
class DoctorArgs:
    """No options: it checks what is there."""


ARGS = DoctorArgs


def run(args: DoctorArgs) -> int:
    from edgeqa.profiling.doctor import run_checks
    from edgeqa.profiling.system import report_lines, system_report

    system = system_report()
    print("\n".join(report_lines(system)))
    print(f"llama.cpp system info: {system['llama_cpp_system_info']}")
    checks = run_checks(system["llama_cpp_features"])
    for check in checks:
        mark = "ok  " if check.ok else ("FAIL" if check.required else "warn")
        print(f"[{mark}] {check.name}: {check.message}")
    broken = [c.name for c in checks if c.required and not c.ok]
    print(
        "edgeqa doctor: "
        + (f"problems found: {', '.join(broken)}" if broken else "this machine can run edgeqa")
    )
    return 1 if broken else 0
