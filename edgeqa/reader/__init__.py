"""The reader: answers with offsets and scores, long contexts in windows, one answer policy."""
