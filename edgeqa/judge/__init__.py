"""`edgeqa judge`: LLM-as-a-judge scores for the answers of an evaluation."""
