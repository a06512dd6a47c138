"""SQuAD evaluation: the resumable eval run, no-answer calibration, endpoints and readable reports."""
