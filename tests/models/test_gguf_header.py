import gguf

from edgeqa.models.gguf_header import SKIPPED_ARRAY, read_gguf_header


def test_the_fast_header_agrees_with_gguf_py(embedded_model):
    reference = gguf.GGUFReader(embedded_model)
    header = read_gguf_header(embedded_model)
    assert header.tensor_count == len(reference.tensors)
    assert header.parameters == sum(int(t.n_elements) for t in reference.tensors)
    assert header.data_end == max(t.data_offset + int(t.n_bytes) for t in reference.tensors)
    assert set(header.metadata) == {key for key in reference.fields if not key.startswith("GGUF.")}
    for key, field in reference.fields.items():
        if key.startswith("GGUF."):
            continue
        if field.types[0] == gguf.GGUFValueType.ARRAY:
            assert header.metadata[key] is SKIPPED_ARRAY, key
        else:
            assert header.metadata[key] == field.contents(), key
