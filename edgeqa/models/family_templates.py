"""The chat templates of the Llama families, as their instruction-tuned models render a
system + user (+ assistant) conversation: what a stand-in base carries so that every stage
meets the same framing it meets with the real model (tools and images left out).

- Llama 3.x: header tokens, `<|eot_id|>` after each turn, and a system header carrying a
  knowledge cut-off and *today's date* (`date_string`, else the clock, else 26 Jul 2024); edgeqa
  always passes `date_string` (see `edgeqa.prompts.TEMPLATE_DATE`).
- Llama 2 chat: `[INST]`, the system prompt inside `<<SYS>>` in the first user turn.
- TinyLlama chat (Zephyr's layout): `<|user|>` / `<|assistant|>` lines, each turn ending in `</s>`;
  no BOS in the template, so the vocabulary's add-BOS setting supplies it.
"""

from __future__ import annotations

LLAMA3 = (
    "{{- bos_token }}\n"
    "{%- if date_string is not defined %}\n"
    "    {%- if strftime_now is defined %}{%- set date_string = strftime_now('%d %b %Y') %}\n"
    "    {%- else %}{%- set date_string = '26 Jul 2024' %}{%- endif %}\n"
    "{%- endif %}\n"
    "{%- if messages[0]['role'] == 'system' %}\n"
    "    {%- set system_message = messages[0]['content'] | trim %}\n"
    "    {%- set messages = messages[1:] %}\n"
    "{%- else %}{%- set system_message = '' %}{%- endif %}\n"
    "{{- '<|start_header_id|>system<|end_header_id|>\\n\\n' }}\n"
    "{{- 'Cutting Knowledge Date: December 2023\\n' }}\n"
    "{{- 'Today Date: ' + date_string + '\\n\\n' }}\n"
    "{{- system_message + '<|eot_id|>' }}\n"
    "{%- for message in messages %}\n"
    "    {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' }}\n"
    "    {{- message['content'] | trim + '<|eot_id|>' }}\n"
    "{%- endfor %}\n"
    "{%- if add_generation_prompt %}\n"
    "    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}\n"
    "{%- endif %}\n"
)

LLAMA2 = (
    "{%- if messages[0]['role'] == 'system' %}\n"
    "    {%- set system = '<<SYS>>\\n' + messages[0]['content'] | trim + '\\n<</SYS>>\\n\\n' %}\n"
    "    {%- set messages = messages[1:] %}\n"
    "{%- else %}{%- set system = '' %}{%- endif %}\n"
    "{%- for message in messages %}\n"
    "    {%- if message['role'] == 'user' %}\n"
    "        {{- bos_token + '[INST] ' + (system if loop.first else '') }}\n"
    "        {{- message['content'] | trim + ' [/INST]' }}\n"
    "    {%- else %}\n"
    "        {{- ' ' + message['content'] | trim + ' ' + eos_token }}\n"
    "    {%- endif %}\n"
    "{%- endfor %}\n"
)

TINYLLAMA = (
    "{%- for message in messages %}\n"
    "    {{- '<|' + message['role'] + '|>\\n' + message['content'] + eos_token + '\\n' }}\n"
    "{%- endfor %}\n"
    "{%- if add_generation_prompt %}{{- '<|assistant|>\\n' }}{%- endif %}\n"
)
