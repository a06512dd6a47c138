"""SQuAD evaluation: official scoring, the resumable runner, and readable reports."""
