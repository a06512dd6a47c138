"""Timed single-request answers, the same loop for llama.cpp and for transformers.

Each question is one cold request (nothing cached from the previous one): the time a user
waits for a one-off question. Latency runs from the raw question (chat template and
tokenization included) to the last answer token; time to first token likewise.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from edgeqa.data.squad import QAExample
from edgeqa.prompts import qa_messages


@dataclass(frozen=True)
class TimedAnswer:
    latency_s: float
    ttft_s: float
    prompt_tokens: int
    prefill_s: float
    generated_tokens: int
    decoded_tokens: int
    decode_s: float  # from the first answer token to the last
    answer: str


Answerer = Callable[[str, str], TimedAnswer]  # (context, question) -> the timed answer


def llama_cpp_answerer(reader) -> Answerer:
    """Cold single answers streamed by an edgeqa Reader (its answer policy applied)."""
    from edgeqa.runtime.engine_config import StreamTimings

    def answer(context: str, question: str) -> TimedAnswer:
        started = time.perf_counter()
        timings = StreamTimings()
        pieces = reader.stream(question, context, timings)  # renders and tokenizes the prompt
        tokenize_s = time.perf_counter() - started
        text = "".join(pieces)
        return TimedAnswer(
            latency_s=time.perf_counter() - started,
            ttft_s=tokenize_s + timings.first_token_s,
            prompt_tokens=timings.prompt_tokens,
            prefill_s=timings.prefill_s,
            generated_tokens=timings.generated_tokens,
            decoded_tokens=timings.decoded_tokens,
            decode_s=timings.total_s - timings.first_token_s,
            answer=text,
        )

    return answer


def transformers_answerer(model, tokenizer, max_answer_tokens: int) -> Answerer:
    """Greedy decoding with the KV cache, logits only at the last position: a fair baseline."""
    import torch

    from edgeqa.models.chat_tokens import end_of_turn_id, prompt_ids

    eos = model.generation_config.eos_token_id
    stop = {end_of_turn_id(tokenizer), tokenizer.eos_token_id, *(eos if isinstance(eos, list) else [eos])}
    stop -= {None}

    @torch.inference_mode()
    def answer(context: str, question: str) -> TimedAnswer:
        started = time.perf_counter()
        messages = qa_messages(context, question)  # an HF baseline: the default layout
        ids = torch.tensor([prompt_ids(tokenizer, messages)])
        output = model(input_ids=ids, use_cache=True, logits_to_keep=1)
        prefill_s = time.perf_counter() - started
        generated: list[int] = []
        first_token_at = decoded = 0
        for step in range(max_answer_tokens):
            token = int(output.logits[0, -1].argmax())
            if token in stop:
                break
            if step == 0:
                first_token_at = time.perf_counter()
            generated.append(token)
            if step + 1 < max_answer_tokens:
                output = model(
                    input_ids=torch.tensor([[token]]),
                    past_key_values=output.past_key_values,
                    use_cache=True,
                )
                decoded += 1
        finished = time.perf_counter()
        first_token_at = first_token_at or finished
        return TimedAnswer(
            latency_s=finished - started,
            ttft_s=first_token_at - started,
            prompt_tokens=ids.shape[1],
            prefill_s=prefill_s,
            generated_tokens=len(generated),
            decoded_tokens=decoded,
            decode_s=finished - first_token_at,
            answer=tokenizer.decode(generated, skip_special_tokens=True),
        )

    return answer


def measure(answer: Answerer, examples: Sequence[QAExample], warmup: int, repeats: int) -> dict[str, Any]:
    """Warm-up answers (discarded), then `repeats` passes over every example."""
    for example in examples[:warmup]:
        answer(example.context, example.question)
    started = time.time()
    passes = [[asdict(answer(e.context, e.question)) for e in examples] for _ in range(repeats)]
    return {"measure_started": started, "measure_ended": time.time(), "passes": passes}
