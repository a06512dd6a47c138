"""Text to prompt tokens, as the GGUF says the model was trained: its chat template, the
template date, its BOS rule, and the QA layout it was fine-tuned with."""

from __future__ import annotations

from edgeqa.prompts import qa_messages
from edgeqa.runtime.llama_session import LlamaSession
from edgeqa.runtime.token_offsets import token_starts


class ChatPrompts:
    def __init__(self, session: LlamaSession):
        self.session = session

    def render(self, messages: list[dict[str, str]]) -> str:
        """Messages rendered with the GGUF's chat template, ending at the assistant turn, with
        the template date the model was trained with (see `edgeqa.prompts.TEMPLATE_DATE`)."""
        info = self.session.info
        return self.session.formatter(messages=messages, date_string=info.template_date).prompt

    def prompt_tokens(self, messages: list[dict[str, str]]) -> list[int]:
        """The rendered prompt's tokens, led by BOS where the vocabulary wants one and the
        template wrote none (as `edgeqa.models.chat_tokens.prompt_ids` does for training)."""
        return self.session.with_bos(self.session.tokenize(self.render(messages)))

    def qa_prompt(self, context: str, question: str) -> list[int]:
        """The QA prompt in the layout this model was fine-tuned with (read from its GGUF)."""
        return self.prompt_tokens(qa_messages(context, question, self.session.info.prompt_layout))

    def token_starts(self, text: str) -> list[int]:
        """The character offset at which each token of `text` (tokenized alone) starts."""
        return token_starts(self.session, text)
