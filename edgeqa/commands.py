"""Subcommand bodies: turn parsed arguments into stage calls and print what the user reads.

Heavy modules (llama_cpp, numpy, gguf) are imported inside each function so `edgeqa --help`
stays instant.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from edgeqa.errors import EdgeQAError


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "run"


def _default_out(names: list[str], data_name: str, args: argparse.Namespace) -> Path:
    model_part = names[0] if len(names) == 1 else "compare"
    suffix = f"-n{args.limit}" if args.limit else ""
    suffix += f"-s{args.seed}" if args.seed is not None and args.limit else ""
    return Path("runs") / "eval" / _slug(f"{model_part}-{data_name}{suffix}")


def _questions(args: argparse.Namespace):
    """(data reference, selected examples) from the shared question options."""
    from edgeqa.data.squad import BUNDLED_SAMPLE, load_squad, select_examples

    if args.limit is not None and args.limit < 1:
        raise EdgeQAError("--limit must be at least 1")
    data = args.data or str(BUNDLED_SAMPLE)
    examples = select_examples(
        load_squad(data, split=args.split), articles=args.article, limit=args.limit, seed=args.seed
    )
    return data, examples


def _engine_config(args: argparse.Namespace, na_threshold: float | None):
    from edgeqa.runtime.engine import EngineConfig

    return EngineConfig(
        n_ctx=args.n_ctx,
        n_threads=args.threads,
        n_batch=args.batch,
        parallel=args.parallel,
        max_answer_tokens=args.max_answer_tokens,
        use_mmap=not args.no_mmap,
        span_constrained=args.decoding == "span",
        na_threshold=na_threshold,
        na_score=args.na_score,
    )


def _evaluate(
    args: argparse.Namespace, model: Path | None, data: str, examples, out: Path, na_threshold, endpoint=None
):
    import dataclasses

    from edgeqa.evaluation.runner import EvalRequest, run_eval

    engine = _engine_config(args, na_threshold)
    if endpoint is not None:  # an endpoint decodes freely and decides its own abstentions
        engine = dataclasses.replace(engine, span_constrained=False, na_threshold=None, na_score="abstention")
    return run_eval(
        EvalRequest(
            model=model,
            data=data,
            examples=examples,
            out_dir=out,
            engine=engine,
            too_long=args.too_long,
            show_progress=not args.quiet,
            endpoint=endpoint,
        )
    )


def _endpoint_config(args: argparse.Namespace):
    """The --endpoint options as an EndpointConfig, or None without --endpoint."""
    from edgeqa.evaluation.endpoint import EndpointConfig

    if args.endpoint is None:
        if args.endpoint_model:
            raise EdgeQAError("--endpoint-model needs --endpoint URL")
        return None
    return EndpointConfig(
        url=args.endpoint,
        model=args.endpoint_model or "",
        api_key_env=args.api_key_env,
        retries=args.retries,
        requests_per_minute=args.rate_limit,
    )


def eval_command(args: argparse.Namespace) -> int:
    from edgeqa.evaluation.calibration import resolve_na_threshold
    from edgeqa.evaluation.report import markdown_table, metrics_rows, text_table
    from edgeqa.fileio import atomic_write_text
    from edgeqa.models.gguf_info import read_gguf_info
    from edgeqa.models.registry import resolve_model

    _engine_config(args, None)  # every option checked before any model or data is read
    endpoint = _endpoint_config(args)
    default_models = [] if endpoint and not args.model else [None]
    models = [resolve_model(m) for m in (args.model or default_models)]
    if len({m.resolve() for m in models}) != len(models):
        raise EdgeQAError("--model: the same model is given twice")
    for model in models:
        read_gguf_info(model)  # fail before any work on a bad file
    data, examples = _questions(args)
    runs = len(models) + (endpoint is not None)
    names = [m.stem for m in models] + ([_slug(endpoint.model)] if endpoint else [])
    out = Path(args.out) if args.out else _default_out(names, Path(data).stem, args)
    rows = []
    for model in models:
        model_out = out / _slug(model.stem) if runs > 1 else out
        threshold = resolve_na_threshold(args.na_threshold, model, args.decoding == "span", args.na_score)
        print(f"edgeqa eval: {model} on {len(examples)} questions of {data} -> {model_out}")
        print(
            f"  decoding: {args.decoding}; no-answer score: {args.na_score}; "
            f"threshold: {threshold.value} ({threshold.reason})"
        )
        metrics = _evaluate(args, model, data, examples, model_out, threshold.value)
        rows.extend(metrics_rows(model.stem, metrics))
    if endpoint is not None:
        endpoint_out = out / _slug(f"endpoint-{endpoint.model}") if runs > 1 else out
        print(f"edgeqa eval: {endpoint.label} on {len(examples)} questions of {data} -> {endpoint_out}")
        metrics = _evaluate(args, None, data, examples, endpoint_out, None, endpoint)
        rows.extend(metrics_rows(f"{endpoint.model} (endpoint)", metrics))
    print()
    print(text_table(rows))
    if runs > 1:
        atomic_write_text(out / "comparison.md", markdown_table(rows))
        print(f"\ncomparison table: {out / 'comparison.md'}")
    return 0


def _judge(args: argparse.Namespace):
    """(judge, its identity for the resume fingerprint) from --judge-model / --endpoint."""
    from edgeqa.fileio import sha256_file
    from edgeqa.judge.judges import EndpointJudge, LocalJudge
    from edgeqa.models.registry import resolve_model

    if args.judge_model and args.endpoint:
        raise EdgeQAError("give --judge-model or --endpoint, not both")
    for flag, value in (("--threads", args.threads), ("--n-ctx", args.n_ctx)):
        if value < 1:
            raise EdgeQAError(f"{flag} must be at least 1, not {value}")
    endpoint = _endpoint_config(args)
    if endpoint is not None:
        return EndpointJudge(endpoint), f"endpoint:{endpoint.model}"
    model = resolve_model(args.judge_model)
    return LocalJudge(model, n_ctx=args.n_ctx, n_threads=args.threads), sha256_file(model)


def judge_command(args: argparse.Namespace) -> int:
    from edgeqa.data.squad import load_squad, select_examples
    from edgeqa.evaluation.report import markdown_table, text_table
    from edgeqa.fileio import atomic_write_text
    from edgeqa.judge.run import JUDGE_HEADER, judge_rows, load_answer_set, run_judge

    loaded = [load_answer_set(Path(p)) for p in args.answers]
    names = [answers.name for answers, _ in loaded]
    if len(set(names)) != len(names):
        raise EdgeQAError(f"two answer sets share the folder name {names}; give each its own folder name")
    data = args.data or loaded[0][1]
    if data is None:
        raise EdgeQAError(f"{args.answers[0]}: no eval_config.json records its data; pass --data")
    if args.limit is not None and args.limit < 1:
        raise EdgeQAError("--limit must be at least 1")
    answer_sets = [answers for answers, _ in loaded]
    answered = [
        e for e in load_squad(data, split=args.split) if all(e.qid in a.predictions for a in answer_sets)
    ]
    if not answered:
        raise EdgeQAError(f"{data}: no question has a prediction in every answer set; check --data")
    examples = select_examples(answered, limit=args.limit, seed=args.seed)
    judge, judge_id = _judge(args)
    print(
        f"edgeqa judge: {judge.name} judges {len(examples)} answers per model, "
        f"{len(answer_sets)} model(s) -> {args.out}"
    )
    try:
        summaries = run_judge(judge, judge_id, answer_sets, examples, Path(args.out), not args.quiet)
    finally:
        judge.close()
    rows = judge_rows(summaries)
    print()
    print(text_table(rows, JUDGE_HEADER))
    atomic_write_text(Path(args.out) / "judge.md", markdown_table(rows, JUDGE_HEADER))
    print(f"\njudge table: {Path(args.out) / 'judge.md'}")
    return 0


def calibrate_command(args: argparse.Namespace) -> int:
    from edgeqa.evaluation.calibration import calibration_path, write_calibration
    from edgeqa.models.gguf_info import read_gguf_info
    from edgeqa.models.registry import resolve_model

    _engine_config(args, None)  # every option checked before any model or data is read
    model = resolve_model(args.model)
    read_gguf_info(model)
    data, examples = _questions(args)
    if not any(not e.answers for e in examples) or all(not e.answers for e in examples):
        raise EdgeQAError(f"{data}: calibration needs answerable and unanswerable questions (SQuAD 2.0)")
    out = (
        Path(args.out) if args.out else Path("runs") / "calibrate" / _slug(f"{model.stem}-{Path(data).stem}")
    )
    print(f"edgeqa calibrate: {model} on {len(examples)} questions of {data}, every one answered -> {out}")
    metrics = _evaluate(args, model, data, examples, out, na_threshold=1.0)
    record = write_calibration(model, args.decoding == "span", args.na_score, metrics)
    official = metrics["official"]
    print(
        f"no-answer threshold {record['na_threshold']:.4f}: F1 {official['f1']:.2f} with every question "
        f"answered -> best F1 {record['best_f1']:.2f} (always abstain: {metrics['always_abstain']['f1']:.2f})"
    )
    print(f"stored in {calibration_path(model)}; eval and demo use it with --na-threshold auto")
    return 0


def models_list_command(args: argparse.Namespace) -> int:
    from edgeqa.models.gguf_info import read_gguf_info
    from edgeqa.models.registry import discover_models, exported_sources

    sources = exported_sources(Path(d) for d in args.dir)
    rows = [["name", "size MiB", "quant", "arch", "ctx", "chat template", "exported from", "path"]]
    for path in discover_models(Path(d) for d in args.dir):
        try:
            info = read_gguf_info(path)
        except EdgeQAError as exc:
            rows.append([path.stem, "-", "unreadable", "-", "-", "-", "-", f"{path} ({exc})"])
            continue
        rows.append(
            [
                info.name,
                f"{info.size_bytes / 2**20:.1f}",
                info.file_type,
                info.architecture,
                str(info.context_length or "-"),
                "yes" if info.chat_template else "no",
                sources.get(path.resolve(), "-"),
                str(path),
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return 0


def finetune_command(args: argparse.Namespace) -> int:
    from edgeqa.finetune.config import config_fields, load_config
    from edgeqa.finetune.run import resume_config, run_finetune

    overrides = {spec.name: getattr(args, spec.name) for spec in config_fields()}
    if args.resume:
        run_dir = Path(args.resume)
        config = resume_config(run_dir, {k: v for k, v in overrides.items() if v is not None})
        run_finetune(config, resume_dir=run_dir, show_progress=not args.quiet)
        return 0
    config = load_config(args.config, overrides)
    run_finetune(config, show_progress=not args.quiet)
    return 0


def export_command(args: argparse.Namespace) -> int:
    from edgeqa.export.quantize import TypeOverrides
    from edgeqa.export.run import ExportRequest, run_export
    from edgeqa.export.sources import resolve_source

    overrides = TypeOverrides.parse(args.tensor_type, args.output_type, args.embedding_type)
    source = resolve_source(args.run, args.base, args.adapter, args.name)
    quants = tuple(dict.fromkeys(q.strip().lower() for q in args.quant.split(",") if q.strip()))
    quants = tuple(q for q in quants if q != args.outtype)
    manifest = run_export(
        ExportRequest(
            source=source,
            out_dir=Path(args.out),
            quants=quants,
            out_type=args.outtype,
            threads=args.threads,
            verify=not args.no_verify,
            ollama=args.ollama,
            lora_gguf=args.lora_gguf,
            imatrix=args.imatrix,
            imatrix_tokens=args.imatrix_tokens,
            kl_tokens=args.kl_tokens,
            kl_data=Path(args.kl_data) if args.kl_data else None,
            overrides=overrides,
        )
    )
    print()
    columns = f"{'perplexity':>11} {'vs ref':>7} {'KL mean':>8} {'top-1':>6}"
    print(f"{'file':40} {'MiB':>8} {columns}  squad smoke answer")
    for entry in manifest["files"]:
        smoke, kl = entry.get("squad_smoke", {}), entry.get("kl_divergence", {})
        agreement = f"{kl['top1_agreement']:.1%}" if kl else "-"
        print(
            f"{entry['file']:40} {entry['size_bytes'] / 2**20:8.1f} {entry.get('perplexity', '-'):>11} "
            f"{entry.get('perplexity_vs_reference', '-'):>7} {kl.get('mean', '-'):>8} {agreement:>6}  "
            f"{smoke.get('answer', '-')!r}"
        )
    imatrix = manifest.get("imatrix")
    if isinstance(imatrix, dict):
        print(f"importance matrix: {imatrix['source']} ({imatrix['tokens']} tokens)")
    check = manifest["verification"].get("hf_vs_f16")
    if check:
        print(
            f"\nmerged HF model vs {args.outtype} GGUF: top-1 agreement {check['top1_agreement']:.0%} "
            f"on {check['prompts']} prompts, max logit difference {check['max_logit_diff']:.3f}"
        )
    lora = manifest["verification"].get("lora_gguf_vs_merged")
    if lora:
        print(
            f"base + LoRA GGUF vs merged GGUF: top-1 agreement {lora['top1_agreement']:.0%}, "
            f"max logit difference {lora['max_logit_diff']:.3f}"
        )
    print(f"manifest: {Path(args.out) / (manifest['name'] + '.manifest.json')}")
    return 0


def _int_list(option: str, text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise EdgeQAError(f"{option}: expected comma-separated positive integers such as 1,2, got {text!r}")
    return list(dict.fromkeys(values))


def profile_specs(args: argparse.Namespace) -> list:
    """Every configuration the arguments ask for, checked before anything runs."""
    from edgeqa.data.squad import BUNDLED_SAMPLE, load_squad
    from edgeqa.finetune.base_model import resolve_base
    from edgeqa.models.gguf_info import read_gguf_info
    from edgeqa.models.registry import resolve_model
    from edgeqa.profiling.spec import TORCH_DTYPES, ProfileSpec

    for option in ("questions", "repeats", "max_answer_tokens", "n_ctx"):
        if getattr(args, option) < 1:
            raise EdgeQAError(f"--{option.replace('_', '-')} must be at least 1")
    if args.warmup < 0:
        raise EdgeQAError("--warmup must be 0 or more")
    threads = _int_list("--threads", args.threads)
    models = [resolve_model(m) for m in (args.model or [None])]
    for model in models:
        read_gguf_info(model)
    data = args.data or str(BUNDLED_SAMPLE)
    load_squad(data)  # a bad file fails here, not in every worker
    mmaps = {"on": [True], "off": [False], "both": [True, False]}[args.mmap]
    common = {
        "data": data,
        "questions": args.questions,
        "seed": args.seed,
        "warmup": args.warmup,
        "repeats": args.repeats,
        "max_answer_tokens": args.max_answer_tokens,
        "n_ctx": args.n_ctx,
    }
    specs = [
        ProfileSpec("llama.cpp", str(model), t, mmap=m, **common)
        for model in models
        for m in mmaps
        for t in threads
    ]
    if args.transformers:
        base = resolve_base(args.transformers)
        dtypes = [d.strip() for d in args.transformers_dtype.split(",") if d.strip()]
        bad = [d for d in dtypes if d not in TORCH_DTYPES]
        if bad or not dtypes:
            raise EdgeQAError(
                f"--transformers-dtype: expected {' or '.join(TORCH_DTYPES)}, got {args.transformers_dtype!r}"
            )
        specs += [
            ProfileSpec("transformers", base.ref, t, dtype=d, **common) for d in dtypes for t in threads
        ]
    return specs


def profile_command(args: argparse.Namespace) -> int:
    from edgeqa.profiling.report import markdown, write_report
    from edgeqa.profiling.runner import run_profile
    from edgeqa.profiling.system import report_lines, system_report

    specs = profile_specs(args)
    out = Path(args.out)
    system = system_report()
    print("\n".join(report_lines(system)))
    print(
        f"edgeqa profile: {len(specs)} configuration(s), {args.questions} questions x "
        f"{args.repeats} repeats each -> {out}"
    )

    def progress(record: dict, cached: bool) -> None:
        if record["status"] != "ok":
            print(f"  {record['label']}: {record['status'].upper()} - {record['error']}")
            return
        note = " (kept from an earlier run)" if cached else ""
        print(
            f"  {record['label']}: p50 {record['latency_p50_s']:.2f} s, p95 {record['latency_p95_s']:.2f} s, "
            f"TTFT p50 {record['ttft_p50_s']:.2f} s, gen {record['generation_tokens_per_s']} tok/s, "
            f"peak RSS {record['peak_rss_mib']:.0f} MiB{note}"
        )

    records = run_profile(specs, out, args.timeout, on_done=progress)
    written = write_report(records, system, out)
    print()
    print(markdown(records))
    print("written: " + ", ".join(str(p) for p in written))
    return 0 if all(r["status"] == "ok" for r in records) else 1


def doctor_command(args: argparse.Namespace) -> int:
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


def demo_command(args: argparse.Namespace) -> int:
    import importlib.util

    if importlib.util.find_spec("gradio") is None:
        raise EdgeQAError("the demo needs gradio: pip install 'edgeqa[demo]'")
    from edgeqa.demo.app import build_app, default_service
    from edgeqa.models.gguf_info import read_gguf_info
    from edgeqa.models.registry import resolve_model

    for option in ("concurrency", "queue_size"):
        if getattr(args, option) < 1:
            raise EdgeQAError(f"--{option.replace('_', '-')} must be at least 1")
    models = [resolve_model(m) for m in args.model or []]
    for model in models:
        read_gguf_info(model)
    service = default_service(
        models,
        span_constrained=args.decoding == "span",
        na_threshold=args.na_threshold,
        na_score=args.na_score,
    )
    print(f"edgeqa demo: models {', '.join(service.models)}; http://{args.host}:{args.port}")
    app = build_app(service, concurrency=args.concurrency, queue_size=args.queue_size)
    app.launch(server_name=args.host, server_port=args.port, show_error=True)
    return 0


def pipeline_command(args: argparse.Namespace) -> int:
    from edgeqa.finetune.config import load_config
    from edgeqa.pipeline.run import run_pipeline
    from edgeqa.pipeline.settings import load_settings

    preset = Path(args.config)
    config = load_config(preset, {"run_name": args.run_name or preset.stem, "max_steps": args.max_steps})
    settings = load_settings(preset, {"eval_limit": args.eval_limit, "report_dir": args.report_dir})
    report = run_pipeline(config, settings, show_progress=not args.quiet)
    print(f"\nedgeqa pipeline: report written to {report}")
    return 0


def _float_list(option: str, text: str) -> list[float]:
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        values = []
    if not values or not all(0 <= v <= 1 for v in values):
        raise EdgeQAError(
            f"{option}: expected comma-separated numbers from 0 to 1 such as 0.1,0.5, got {text!r}"
        )
    return values


def longctx_command(args: argparse.Namespace) -> int:
    from edgeqa.longctx.grid import load_grid
    from edgeqa.longctx.report import markdown, write_report
    from edgeqa.longctx.runner import LongCtxRequest, run_longctx
    from edgeqa.models.gguf_info import read_gguf_info
    from edgeqa.models.registry import resolve_model

    for option in ("windows", "trials", "threads"):
        if getattr(args, option) < 1:
            raise EdgeQAError(f"--{option} must be at least 1")
    model = resolve_model(args.model)
    info = read_gguf_info(model)
    contexts = sorted(_int_list("--ctx", args.ctx))
    if min(contexts) < 64:
        raise EdgeQAError("--ctx: each context length must be at least 64 tokens")
    depths = [] if args.depths == "none" else _float_list("--depths", args.depths)
    request = LongCtxRequest(
        model=model,
        contexts=tuple(contexts),
        grid=load_grid(Path(args.grid) if args.grid else None),
        out_dir=Path(args.out),
        text=args.text,
        windows=args.windows,
        depths=tuple(depths),
        trials=args.trials,
        threads=args.threads,
        timeout_s=args.timeout,
    )
    print(
        f"edgeqa longctx: {model.name} (trained on {info.context_length} tokens) at {contexts} -> {args.out}"
    )

    def progress(record: dict, cached: bool) -> None:
        where = f"{record['setting']} @ {record['n_ctx']}"
        if record["status"] != "ok":
            print(f"  {where}: {record['status']} - {record.get('error', '')}")
            return
        from edgeqa.longctx.report import passkey_accuracy

        accuracy = passkey_accuracy(record)
        passkey = "" if accuracy is None else f", passkey {accuracy:.0%}"
        note = " (kept)" if cached else f", peak RSS {record['peak_rss_mib']:.0f} MiB"
        print(f"  {where}: perplexity {record['perplexity']:.2f}{passkey}{note}")

    settings, records = run_longctx(request, progress)
    names = [s.name for s in settings]
    written = write_report(names, contexts, records, int(info.context_length or 0), Path(args.out))
    print()
    print(markdown(names, contexts, records, int(info.context_length or 0)))
    print("written: " + ", ".join(str(p) for p in written))
    return 0 if all(r["status"] in ("ok", "skipped") for r in records) else 1
