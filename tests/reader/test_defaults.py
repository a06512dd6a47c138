"""Each default lives in one place: the Reader, the commands, the profiler and the pipeline read
the engine's, the windows' and the answer policy's, so they cannot drift apart."""

import dataclasses
import inspect

from edgeqa.reader.policy import AnswerPolicy
from edgeqa.reader.windows import WindowOptions
from edgeqa.runtime.engine_config import EngineConfig


def _defaults(cls) -> dict:
    return {f.name: f.default for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING}


def test_the_readers_defaults_are_the_cli_s():
    from edgeqa import Reader
    from edgeqa.evaluation.eval_command import EvalArgs

    reader = {name: p.default for name, p in inspect.signature(Reader.__init__).parameters.items()}
    cli = _defaults(EvalArgs)
    for name in ("decoding", "na_score", "na_threshold", "max_seq_len", "doc_stride", "max_windows"):
        assert reader[name] == cli[name], name
    for name in ("n_ctx", "parallel", "max_answer_tokens"):
        assert reader[name] == cli[name] == getattr(EngineConfig(), name), name


def test_the_profiler_pipeline_serve_and_demo_start_from_the_same_defaults():
    from edgeqa.demo.command import DemoArgs
    from edgeqa.pipeline.settings import PipelineSettings
    from edgeqa.profiling.command import ProfileArgs
    from edgeqa.profiling.spec import ProfileSpec
    from edgeqa.serve.command import ServeArgs

    engine, policy, windows = EngineConfig(), AnswerPolicy(), WindowOptions()
    assert ProfileArgs.n_ctx == ProfileSpec.n_ctx == engine.n_ctx
    assert ProfileArgs.max_answer_tokens == ProfileSpec.max_answer_tokens == engine.max_answer_tokens
    assert PipelineSettings().max_answer_tokens == engine.max_answer_tokens
    assert PipelineSettings().answer_policy() == policy
    assert ServeArgs.parallel == engine.parallel and ServeArgs.max_seq_len == windows.max_seq_len
    for args in (ServeArgs, DemoArgs, ProfileArgs):
        assert AnswerPolicy.of(args) == policy, args.__name__
