from edgeqa.evaluation.progress_log import RecordWriter, read_records


def test_records_round_trip_and_a_torn_last_line_is_dropped(tmp_path):
    path = tmp_path / "log.jsonl"
    with RecordWriter(path) as writer:
        writer.write([{"id": "a", "prediction": "x"}, {"id": "b", "prediction": ""}])
    with path.open("a") as handle:
        handle.write('{"id": "c", "predic')  # killed mid-write
    records = read_records(path)
    assert set(records) == {"a", "b"}
    assert path.read_text().endswith('"prediction": ""}\n')  # the torn line is gone
    with RecordWriter(path) as writer:
        writer.write([{"id": "c", "prediction": "y"}])
    assert set(read_records(path)) == {"a", "b", "c"}


def test_missing_log_means_nothing_done(tmp_path):
    assert read_records(tmp_path / "none.jsonl") == {}
